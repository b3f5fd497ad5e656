package sms

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/secret"
)

// twilioSender creates messages with Twilio's Messages API.
type twilioSender struct {
	client           *http.Client
	url              string
	authHeader       secret.Secret
	from, serviceSID string
	secrets          *notify.Secrets
}

func newTwilio(c Config, o notify.Options) *twilioSender {
	basic := base64.StdEncoding.EncodeToString([]byte(c.AccountSID + ":" + c.res.authToken.Reveal()))
	auth := secret.New("Basic " + basic)
	return &twilioSender{
		client:     o.HTTPClient,
		url:        c.res.baseURL + "/2010-04-01/Accounts/" + url.PathEscape(c.AccountSID) + "/Messages.json",
		authHeader: auth,
		from:       c.From,
		serviceSID: c.MessagingServiceSID,
		secrets:    notify.NewSecrets(c.res.authToken).AddBasicAuth(c.AccountSID, c.res.authToken),
	}
}

// send creates one message. notify.Do classifies the answer: 201 is
// success; 429 (Twilio error 20429) and 5xx retry after Retry-After; other
// 4xx, such as 400 with error 21211 (invalid To) or 21610 (unsubscribed
// recipient), are permanent.
func (t *twilioSender) send(ctx context.Context, to, body string) (string, error) {
	form := url.Values{"To": {to}, "Body": {body}}
	if t.serviceSID != "" {
		form.Set("MessagingServiceSid", t.serviceSID)
	} else {
		form.Set("From", t.from)
	}
	resp, err := notify.Do(ctx, t.client, notify.Request{
		Method: http.MethodPost,
		URL:    t.url,
		Body:   []byte(form.Encode()),
		Header: http.Header{
			"Content-Type":  {"application/x-www-form-urlencoded"},
			"Accept":        {"application/json"},
			"Authorization": {t.authHeader.Reveal()},
		},
		Service: "twilio",
		Secrets: t.secrets,
	})
	if err != nil {
		return "", err
	}
	var out struct {
		SID string `json:"sid"`
	}
	// A 2xx means Twilio queued the message; an unreadable body must not
	// turn that into a retry that texts everyone again.
	_ = json.Unmarshal(resp.Body, &out)
	return out.SID, nil
}
