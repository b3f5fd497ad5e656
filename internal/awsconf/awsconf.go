// Package awsconf builds the AWS configuration every AWS client of
// trailwatch starts from (the SQS and S3 sources, the SNS SMS channel), so
// region, credentials, profile, role and SDK logging are decided in one
// place: aws-sdk-go-v2's default chain (environment, shared files, SSO, web
// identity, container and instance roles), narrowed by what the
// configuration names. It imports awslog.
package awsconf

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/trailwatch/trailwatch/internal/awslog"
)

// DefaultRegion is the region when neither the configuration nor the
// environment or profile names one.
const DefaultRegion = "us-east-1"

// SessionName is the role session name trailwatch assumes roles with; it
// shows in the CloudTrail records of its own calls.
const SessionName = "trailwatch"

// Config is what a part's configuration says about AWS access. Zero fields
// leave the decision to the SDK's default chain.
type Config struct {
	// Region of the service; empty means AWS_REGION or the profile's,
	// else DefaultRegion.
	Region string
	// Profile is a shared configuration profile (~/.aws/config).
	Profile string
	// AccessKeyID and SecretAccessKey are static credentials; empty means
	// the default credential chain.
	AccessKeyID, SecretAccessKey string
	// RoleARN, when set, is assumed (STS AssumeRole) with the credentials
	// above, and its temporary credentials are used and renewed.
	RoleARN string
	// ExternalID is passed to AssumeRole when the role's trust policy asks
	// for one.
	ExternalID string
	// Endpoint overrides every client's endpoint (a test server, a VPC
	// endpoint); clients with an endpoint of their own set it on their
	// options instead.
	Endpoint string
	// Logger receives the SDK's own log lines; nil drops them.
	Logger *slog.Logger
}

// Load builds the configuration. It reads the environment and shared
// files; credentials are fetched on first use.
func Load(ctx context.Context, c Config) (aws.Config, error) {
	opts := []func(*awsconfig.LoadOptions) error{awslog.Option(c.Logger)}
	if c.Region != "" {
		opts = append(opts, awsconfig.WithRegion(c.Region))
	}
	if c.Profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(c.Profile))
	}
	if c.AccessKeyID != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, "")))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if c.Endpoint != "" {
		cfg.BaseEndpoint = aws.String(c.Endpoint)
	}
	if c.RoleARN != "" {
		provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), c.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = SessionName
			if c.ExternalID != "" {
				o.ExternalID = aws.String(c.ExternalID)
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(provider)
	}
	return cfg, nil
}
