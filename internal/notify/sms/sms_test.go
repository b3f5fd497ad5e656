package sms_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/notify/notifytest"
	"github.com/trailwatch/trailwatch/internal/notify/sms"
	"github.com/trailwatch/trailwatch/internal/notify/sms/snsfake"
	"github.com/trailwatch/trailwatch/internal/secret"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TWILIO_TOKEN": testToken, "AWS_SECRET": testSecretKey}
	getenv := func(k string) string { return env[k] }

	c := snsConfig("")
	c.SecretAccessKey = secret.New("${AWS_SECRET}")
	if err := c.Check(getenv); err != nil {
		t.Fatalf("sns: %v", err)
	}
	if c.SMSType != "Transactional" {
		t.Errorf("default sms_type %q", c.SMSType)
	}
	if err := c.Check(getenv); err != nil {
		t.Errorf("second check: %v", err)
	}
	c = sms.Config{Provider: "SNS", To: []string{phoneUK}, Region: "us-east-1"} // default credential chain
	if err := c.Check(getenv); err != nil {
		t.Errorf("sns without keys: %v", err)
	}
	c = twilioConfig("")
	c.AuthToken, c.AuthTokenFile = secret.Secret{}, tokenFile
	if err := c.Check(getenv); err != nil {
		t.Errorf("twilio with auth_token_file: %v", err)
	}
	for _, from := range []string{"Trailwatch", "12345", "+447700900999"} {
		c = twilioConfig("")
		c.From = from
		if err := c.Check(getenv); err != nil {
			t.Errorf("from %q: %v", from, err)
		}
	}

	for _, tc := range []struct {
		name string
		base func() sms.Config
		edit func(*sms.Config)
		want []string
	}{
		{"empty", snsBase, func(c *sms.Config) { *c = sms.Config{} }, []string{"provider: required", "to: at least one"}},
		{"unknown provider", snsBase, func(c *sms.Config) { c.Provider = "pigeon" }, []string{`provider: "pigeon"`}},
		{"bad numbers", snsBase, func(c *sms.Config) {
			c.To = []string{"07700 900123", "+44 7700 900123", phoneUS, phoneUS, "+0123456789"}
		},
			[]string{"to[0]: \"+07••••••123\" is not an E.164", "to[1]: ", "to[3]: +15••••••199 is listed twice", "to[4]: "}},
		{"sns without region", snsBase, func(c *sms.Config) { c.Region = "" }, []string{"region: required"}},
		{"bad region", snsBase, func(c *sms.Config) { c.Region = "Ireland" }, []string{`region: "Ireland"`}},
		{"clear-text endpoint", snsBase, func(c *sms.Config) { c.Endpoint = "http://sns.example.com" }, []string{"endpoint: ", "only allowed to localhost"}},
		{"endpoint not a URL", snsBase, func(c *sms.Config) { c.Endpoint = "sns.eu-west-1.amazonaws.com" }, []string{"endpoint: "}},
		{"bad sender id", snsBase, func(c *sms.Config) { c.SenderID = "Trail Watch!" }, []string{"sender_id: "}},
		{"digits-only sender id", snsBase, func(c *sms.Config) { c.SenderID = "12345" }, []string{"sender_id: "}},
		{"bad origination number", snsBase, func(c *sms.Config) { c.OriginationNumber = "12" }, []string{"origination_number: "}},
		{"bad sms type", snsBase, func(c *sms.Config) { c.SMSType = "Urgent" }, []string{`sms_type: "Urgent"`}},
		{"negative max price", snsBase, func(c *sms.Config) { c.MaxPrice = -1 }, []string{"max_price: "}},
		{"half a key pair", snsBase, func(c *sms.Config) { c.SecretAccessKey = secret.Secret{} }, []string{"access_key_id: give access_key_id and secret_access_key together"}},
		{"unset env", snsBase, func(c *sms.Config) { c.SecretAccessKey = secret.New("${NOPE}") }, []string{"secret_access_key: environment variable NOPE is not set"}},
		{"twilio fields on sns", snsBase, func(c *sms.Config) { c.AccountSID = testSID; c.From = testFrom }, []string{"account_sid: only for provider twilio", "from: only for provider twilio"}},
		{"sns fields on twilio", twilioBase, func(c *sms.Config) { c.Region = testRegion; c.SenderID = "X1" }, []string{"region: only for provider sns", "sender_id: only for provider sns"}},
		{"twilio without sid and token", twilioBase, func(c *sms.Config) { c.AccountSID = ""; c.AuthToken = secret.Secret{} }, []string{"account_sid: required", "auth_token: missing"}},
		{"bad sid", twilioBase, func(c *sms.Config) { c.AccountSID = "AC123" }, []string{"account_sid: must be AC"}},
		{"token and file", twilioBase, func(c *sms.Config) { c.AuthTokenFile = tokenFile }, []string{"auth_token, auth_token_file: give the value or the file"}},
		{"no sender", twilioBase, func(c *sms.Config) { c.From = "" }, []string{"from: give from or messaging_service_sid"}},
		{"two senders", twilioBase, func(c *sms.Config) { c.MessagingServiceSID = "MG0123456789abcdef0123456789abcdef" }, []string{"not both"}},
		{"bad from", twilioBase, func(c *sms.Config) { c.From = "+1 (500) 555" }, []string{"from: must be"}},
		{"bad service sid", twilioBase, func(c *sms.Config) { c.From = ""; c.MessagingServiceSID = "MG1" }, []string{"messaging_service_sid: "}},
		{"clear-text base url", twilioBase, func(c *sms.Config) { c.BaseURL = "http://api.twilio.com" }, []string{"base_url: "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.base()
			tc.edit(&c)
			err := c.Check(getenv)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			notifytest.NoLeak(t, err.Error(), testToken, testSecretKey, phoneUK, phoneUS, "7700 900123")
			if _, nerr := sms.New(c, notify.Options{}); nerr == nil {
				t.Error("New accepted a config that fails Check")
			}
		})
	}
}

func snsBase() sms.Config    { return snsConfig("") }
func twilioBase() sms.Config { return twilioConfig("") }

func TestConfigNeverPrintsSecrets(t *testing.T) {
	for _, c := range []sms.Config{snsConfig(""), twilioConfig("")} {
		if err := c.Check(func(string) string { return "" }); err != nil {
			t.Fatal(err)
		}
		n, err := sms.New(c, notify.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "channel", c)
		notifytest.NoLeak(t, fmt.Sprintf("%v %+v %#v %v %+v %s", c, c, c, n, n, logs.String()), testToken, testSecretKey)
	}
}

func TestNewChecksUncheckedConfig(t *testing.T) {
	fake := snsfake.New(testKeyID, testRegion)
	defer fake.Close()
	c := snsConfig(fake.URL)
	c.To = []string{phoneUK}
	n, err := sms.New(c, notify.Options{}) // not checked yet: New checks
	if err != nil {
		t.Fatal(err)
	}
	if _, err := notifyCtx(t, n, notifytest.Message()); err != nil {
		t.Fatal(err)
	}
	if got := fake.Messages(); len(got) != 1 || got[0].Attributes["AWS.SNS.SMS.SMSType"].StringValue != "Transactional" {
		t.Errorf("published %+v", got)
	}
}
