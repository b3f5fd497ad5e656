package s3source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/trailwatch/trailwatch/internal/awsconf"
)

// Client is the part of the S3 API the source uses; *s3.Client implements
// it, and tests may inject their own. It must be safe for concurrent use.
type Client interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

var _ Client = (*s3.Client)(nil)

// ClientConfig says how to build an S3 client.
type ClientConfig struct {
	// Region of the bucket; empty means the AWS configuration's region
	// (AWS_REGION, the profile), else us-east-1.
	Region string
	// Endpoint overrides the S3 endpoint (an S3-compatible store, a test
	// server); path-style addressing is used with it.
	Endpoint string
	// AccessKeyID and SecretAccessKey are static credentials; empty means
	// the default credential chain (environment, profile, SSO, web
	// identity, container or instance role).
	AccessKeyID, SecretAccessKey string
	// Profile is a shared configuration profile; RoleARN a role assumed
	// with the credentials above.
	Profile, RoleARN string
	// Logger receives the SDK's own log lines; nil drops them.
	Logger *slog.Logger
}

// NewClient builds an S3 client from the AWS configuration awsconf
// builds from cc.
func NewClient(ctx context.Context, cc ClientConfig) (*s3.Client, error) {
	cfg, err := awsconf.Load(ctx, awsconf.Config{Region: cc.Region, Profile: cc.Profile, RoleARN: cc.RoleARN,
		AccessKeyID: cc.AccessKeyID, SecretAccessKey: cc.SecretAccessKey, Logger: cc.Logger})
	if err != nil {
		return nil, err
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		// CloudTrail's objects carry no checksum the SDK could check;
		// do not log that for every object.
		o.DisableLogOutputChecksumValidationSkipped = true
		if cc.Endpoint != "" {
			o.BaseEndpoint = aws.String(cc.Endpoint)
			o.UsePathStyle = true
		}
	}), nil
}

// ParseURL splits s3://bucket/prefix into the bucket and the key prefix
// (without a leading slash; empty for the whole bucket).
func ParseURL(u string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q is not an s3://bucket/prefix URL", u)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%q names no bucket", u)
	}
	return bucket, strings.TrimLeft(prefix, "/"), nil
}

// Skipped reports whether a key is no CloudTrail log file: a digest file
// (under CloudTrail-Digest/) or a folder marker.
func Skipped(key string) bool {
	return strings.HasSuffix(key, "/") || strings.Contains("/"+key, "/CloudTrail-Digest/")
}

// List calls fn with every key under prefix, in key order (for CloudTrail
// log files: by account, region, date and time), skipping digest files and
// folder markers. A prefix that does not end in "/" names a folder or one
// object: "logs" lists "logs" and "logs/…", not "logs2/…". An error from
// fn stops the listing and is returned as it is.
func List(ctx context.Context, c Client, bucket, prefix string, fn func(key string) error) error {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	exact := prefix != "" && !strings.HasSuffix(prefix, "/")
	for {
		out, err := c.ListObjectsV2(ctx, in)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, explain(err))
		}
		for _, o := range out.Contents {
			k := aws.ToString(o.Key)
			if Skipped(k) || (exact && k != prefix && !strings.HasPrefix(k, prefix+"/")) {
				continue
			}
			if err := fn(k); err != nil {
				return err
			}
		}
		if !aws.ToBool(out.IsTruncated) || aws.ToString(out.NextContinuationToken) == "" {
			return nil
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// Open starts reading one object. The body is streamed from S3 as it is
// read; the caller closes it.
func Open(ctx context.Context, c Client, bucket, key string) (io.ReadCloser, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", bucket, key, explain(err))
	}
	return out.Body, nil
}

// Walk calls fn with every object under prefix (see List), one at a time
// in key order, with its body as stored (gzip for CloudTrail log files).
// An error opening an object or from fn stops the walk.
func Walk(ctx context.Context, c Client, bucket, prefix string, fn func(key string, body io.Reader) error) error {
	return List(ctx, c, bucket, prefix, func(key string) error {
		body, err := Open(ctx, c, bucket, key)
		if err != nil {
			return err
		}
		defer body.Close()
		return fn(key, body)
	})
}

// explain adds the bucket's region to a redirect error, which otherwise
// only says "301 Moved Permanently".
func explain(err error) error {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil && re.Response.Header != nil {
		if r := re.Response.Header.Get("x-amz-bucket-region"); r != "" && re.HTTPStatusCode() == http.StatusMovedPermanently {
			return fmt.Errorf("%w (the bucket is in region %s: set the region to it)", err, r)
		}
	}
	return err
}

// notFound reports whether err says the object does not exist.
func notFound(err error) bool {
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound")
}

// clientError reports whether err is the caller's fault (4xx other than
// throttling): a wrong bucket, region or permission.
func clientError(err error) bool {
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	c := re.HTTPStatusCode()
	return c >= 300 && c < 500 && c != http.StatusTooManyRequests && c != http.StatusRequestTimeout
}
