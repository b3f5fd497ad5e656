package sms

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"

	"github.com/trailwatch/trailwatch/internal/awsconf"
	"github.com/trailwatch/trailwatch/internal/notify"
)

// snsSender publishes to phone numbers with Amazon SNS.
type snsSender struct {
	client  *sns.Client
	attrs   map[string]types.MessageAttributeValue
	secrets *notify.Secrets
}

func newSNS(c Config, o notify.Options) (*snsSender, error) {
	// Reads the environment and shared files only; credentials are
	// fetched on the first Publish.
	cfg, err := awsconf.Load(context.Background(), awsconf.Config{Region: c.Region,
		AccessKeyID: c.res.accessKeyID.Reveal(), SecretAccessKey: c.res.secretAccessKey.Reveal(), Logger: o.Logger})
	if err != nil {
		return nil, fmt.Errorf("sms sns: %w", err)
	}
	client := sns.NewFromConfig(cfg, func(so *sns.Options) {
		so.HTTPClient = o.HTTPClient
		// One call is one attempt: the dispatcher owns retries.
		so.Retryer = aws.NopRetryer{}
		so.RetryMaxAttempts = 1
		if c.res.endpoint != "" {
			so.BaseEndpoint = aws.String(c.res.endpoint)
		}
	})
	str := func(v string) types.MessageAttributeValue {
		return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	attrs := map[string]types.MessageAttributeValue{"AWS.SNS.SMS.SMSType": str(c.SMSType)}
	if c.SenderID != "" {
		attrs["AWS.SNS.SMS.SenderID"] = str(c.SenderID)
	}
	if c.OriginationNumber != "" {
		attrs["AWS.MM.SMS.OriginationNumber"] = str(c.OriginationNumber)
	}
	if c.MaxPrice > 0 {
		attrs["AWS.SNS.SMS.MaxPrice"] = types.MessageAttributeValue{DataType: aws.String("Number"), StringValue: aws.String(strconv.FormatFloat(c.MaxPrice, 'f', -1, 64))}
	}
	return &snsSender{client: client, attrs: attrs, secrets: notify.NewSecrets(c.res.accessKeyID, c.res.secretAccessKey)}, nil
}

func (s *snsSender) send(ctx context.Context, to, body string) (string, error) {
	out, err := s.client.Publish(ctx, &sns.PublishInput{
		PhoneNumber:       aws.String(to),
		Message:           aws.String(body),
		MessageAttributes: s.attrs,
	})
	if err != nil {
		return "", classifySNS(ctx, err, s.secrets)
	}
	return aws.ToString(out.MessageId), nil
}

// SNS error codes worth retrying: throttling and the service's own
// failures. ExpiredToken and RequestExpired clear up once the credential
// cache refreshes or the clock is fixed.
var snsRetryCodes = map[string]bool{
	"Throttling": true, "ThrottlingException": true, "Throttled": true, "ThrottledException": true,
	"RequestThrottled": true, "TooManyRequestsException": true, "KMSThrottling": true,
	"InternalError": true, "InternalFailure": true, "ServiceUnavailable": true, "RequestTimeout": true,
	"ExpiredToken": true, "RequestExpired": true,
}

// classifySNS turns an SDK error into a notify error: throttling, the
// service's errors (5xx) and network failures retry; other API errors
// (InvalidParameter, AuthorizationError, OptedOut, KMS access) do not.
func classifySNS(ctx context.Context, err error, secrets *notify.Secrets) error {
	var (
		ae     smithy.APIError
		re     *awshttp.ResponseError
		code   string
		status int
		reqID  string
	)
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
		reqID = re.ServiceRequestID()
	}
	msg := err.Error()
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
		msg = fmt.Sprintf("HTTP %d: %s: %s", status, code, ae.ErrorMessage())
		if reqID != "" {
			msg += " (request id " + reqID + ")"
		}
	}
	msg = "sns publish: " + secrets.Quote(msg, 300)
	switch {
	case ctx.Err() != nil:
		return notify.Retryable(fmt.Errorf("%s: %w", msg, ctx.Err()), 0)
	case snsRetryCodes[code], status >= 500, status == 429, status == 408:
		return notify.Retryable(errors.New(msg), 0)
	case code != "" || (status >= 400 && status < 500):
		return notify.Permanent(errors.New(msg))
	}
	// No answer from SNS: the network, or the credential chain.
	return notify.Retryable(errors.New(msg), 0)
}
