package sqs

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/trailwatch/trailwatch/internal/secret"
	"github.com/trailwatch/trailwatch/internal/source"
)

// Config configures the SQS source. Zero values mean the defaults below;
// Check fills them in.
type Config struct {
	// QueueURL is the queue to receive from (required), e.g.
	// https://sqs.eu-west-1.amazonaws.com/123456789012/trailwatch.
	QueueURL string `yaml:"queue_url"`
	// Region is the queue's region; default: read from the queue URL's
	// host (sqs.<region>.amazonaws.com), else us-east-1.
	Region string `yaml:"region"`
	// Endpoint overrides the SQS endpoint (a VPC endpoint, LocalStack,
	// tests). Default: the regional AWS endpoint; for a queue URL whose
	// host is not an AWS one, the URL's scheme and host.
	Endpoint string `yaml:"endpoint"`
	// MaxMessages is how many messages one receive asks for, 1-10;
	// default 10.
	MaxMessages int `yaml:"max_messages"`
	// WaitSeconds is the long-poll time of one receive, 0-20; default 20.
	WaitSeconds *int `yaml:"wait_seconds"`
	// VisibilityTimeout is how long, in seconds, a received message stays
	// hidden from other consumers; default 60.
	VisibilityTimeout int `yaml:"visibility_timeout"`
	// ExtendVisibility keeps a message that is still being worked on
	// hidden, by extending its visibility every half timeout; default
	// true.
	ExtendVisibility *bool `yaml:"extend_visibility"`
	// Workers is the number of concurrent receive loops; default 2.
	Workers int `yaml:"workers"`
	// MaxReceiveCountWarn logs a warning when a message was received more
	// often than this (it keeps failing; the queue's redrive policy moves
	// it to a dead-letter queue eventually); default 3, 0 turns it off.
	MaxReceiveCountWarn *int `yaml:"max_receive_count_warn"`
	// RetryDelay is the visibility, in seconds, of a message whose
	// processing failed, per receive so far (10 s after the first receive,
	// 20 s after the second, …); default 10.
	RetryDelay int `yaml:"retry_delay"`
	// MaxRetryDelay caps RetryDelay × receive count; default 900.
	MaxRetryDelay int `yaml:"max_retry_delay"`
	// AccessKeyID and SecretAccessKey are static credentials, inline, as
	// ${ENV} or in files. Default: the AWS SDK's credential chain
	// (environment, shared files, web identity, ECS/EC2 roles).
	AccessKeyID         secret.Secret `yaml:"access_key_id"`
	AccessKeyIDFile     string        `yaml:"access_key_id_file"`
	SecretAccessKey     secret.Secret `yaml:"secret_access_key"`
	SecretAccessKeyFile string        `yaml:"secret_access_key_file"`
	// Profile is a shared AWS configuration profile; RoleARN a role to
	// assume (with the credentials above, or the default chain's).
	Profile string `yaml:"profile"`
	RoleARN string `yaml:"role_arn"`
	// S3Region and S3Endpoint are for fetching the log files S3
	// notifications announce; default: Region and the regional endpoint.
	// With S3Endpoint set, path-style addressing is used.
	S3Region   string `yaml:"s3_region"`
	S3Endpoint string `yaml:"s3_endpoint"`
	// ChunkRecords and ChunkBytes bound one chunk of a large log file
	// (its own batch and transaction); defaults 2000 records and 4 MiB of
	// decompressed records.
	ChunkRecords int `yaml:"chunk_records"`
	ChunkBytes   int `yaml:"chunk_bytes"`

	accessKeyID, secretAccessKey secret.Secret
	queueName                    string
	checked                      bool
}

// Defaults and limits.
const (
	DefaultMaxMessages       = 10
	DefaultWaitSeconds       = 20
	DefaultVisibilityTimeout = 60
	DefaultWorkers           = 2
	DefaultReceiveCountWarn  = 3
	DefaultRetryDelay        = 10
	DefaultMaxRetryDelay     = 900
	maxVisibility            = 43200 // SQS's limit: 12 hours
)

// Check resolves secrets, fills in defaults and validates, reporting every
// problem (each names its key).
func (c *Config) Check(getenv func(string) string) error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf(key+": "+format, args...))
	}
	var host, scheme string
	if c.QueueURL == "" {
		bad("queue_url", "required")
	} else if u, err := url.Parse(c.QueueURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("queue_url", "%q is not an http(s) URL", c.QueueURL)
	} else {
		host, scheme = u.Hostname(), u.Scheme
		c.queueName = strings.Trim(u.Path, "/")
		if i := strings.LastIndexByte(c.queueName, '/'); i >= 0 {
			c.queueName = c.queueName[i+1:]
		}
		if c.queueName == "" {
			bad("queue_url", "%q names no queue (want https://sqs.<region>.amazonaws.com/<account>/<queue>)", c.QueueURL)
		}
	}
	if c.Region == "" && host != "" {
		c.Region = regionOf(host)
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if !regionRE.MatchString(c.Region) {
		bad("region", "%q is not an AWS region name", c.Region)
	}
	if c.Endpoint == "" && host != "" && !isAWSHost(host) {
		u, _ := url.Parse(c.QueueURL)
		c.Endpoint = scheme + "://" + u.Host
	}
	checkEndpoint := func(key, v string) {
		if v == "" {
			return
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad(key, "%q is not an http(s) URL", v)
		}
	}
	checkEndpoint("endpoint", c.Endpoint)
	checkEndpoint("s3_endpoint", c.S3Endpoint)
	if c.S3Region == "" {
		c.S3Region = c.Region
	} else if !regionRE.MatchString(c.S3Region) {
		bad("s3_region", "%q is not an AWS region name", c.S3Region)
	}
	if c.MaxMessages == 0 {
		c.MaxMessages = DefaultMaxMessages
	}
	if c.MaxMessages < 1 || c.MaxMessages > 10 {
		bad("max_messages", "%d is out of range 1-10", c.MaxMessages)
	}
	if c.WaitSeconds == nil {
		w := DefaultWaitSeconds
		c.WaitSeconds = &w
	}
	if *c.WaitSeconds < 0 || *c.WaitSeconds > 20 {
		bad("wait_seconds", "%d is out of range 0-20", *c.WaitSeconds)
	}
	if c.VisibilityTimeout == 0 {
		c.VisibilityTimeout = DefaultVisibilityTimeout
	}
	if c.VisibilityTimeout < 1 || c.VisibilityTimeout > maxVisibility {
		bad("visibility_timeout", "%d is out of range 1-%d seconds", c.VisibilityTimeout, maxVisibility)
	}
	if c.ExtendVisibility == nil {
		t := true
		c.ExtendVisibility = &t
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.Workers < 1 || c.Workers > 64 {
		bad("workers", "%d is out of range 1-64", c.Workers)
	}
	if c.MaxReceiveCountWarn == nil {
		w := DefaultReceiveCountWarn
		c.MaxReceiveCountWarn = &w
	}
	if *c.MaxReceiveCountWarn < 0 {
		bad("max_receive_count_warn", "must not be negative")
	}
	if c.RetryDelay == 0 {
		c.RetryDelay = DefaultRetryDelay
	}
	if c.RetryDelay < 1 || c.RetryDelay > maxVisibility {
		bad("retry_delay", "%d is out of range 1-%d seconds", c.RetryDelay, maxVisibility)
	}
	if c.MaxRetryDelay == 0 {
		c.MaxRetryDelay = max(DefaultMaxRetryDelay, c.RetryDelay)
	}
	if c.MaxRetryDelay < c.RetryDelay || c.MaxRetryDelay > maxVisibility {
		bad("max_retry_delay", "%d is out of range retry_delay (%d) to %d seconds", c.MaxRetryDelay, c.RetryDelay, maxVisibility)
	}
	var err1, err2 error
	if c.accessKeyID, err1 = secret.Pick(c.AccessKeyID, c.AccessKeyIDFile, getenv, false); err1 != nil {
		bad("access_key_id", "%w", err1)
	}
	if c.secretAccessKey, err2 = secret.Pick(c.SecretAccessKey, c.SecretAccessKeyFile, getenv, false); err2 != nil {
		bad("secret_access_key", "%w", err2)
	}
	if err1 == nil && err2 == nil && c.accessKeyID.Empty() != c.secretAccessKey.Empty() {
		bad("access_key_id and secret_access_key", "give both or neither")
	}
	errs = append(errs, source.CheckLimits(c.ChunkRecords, c.ChunkBytes)...)
	c.checked = true
	return errors.Join(errs...)
}

var regionRE = regexp.MustCompile(`^[a-z]{2,4}(-[a-z]+)+-\d{1,2}$`)

// regionOf reads the region from an SQS host name:
// sqs.<region>.amazonaws.com, <region>.queue.amazonaws.com,
// vpce-….sqs.<region>.vpce.amazonaws.com, and the .com.cn forms;
// queue.amazonaws.com is us-east-1. It returns "" when it cannot tell.
func regionOf(host string) string {
	if host == "queue.amazonaws.com" {
		return "us-east-1"
	}
	if !isAWSHost(host) {
		return ""
	}
	for _, label := range strings.Split(host, ".") {
		if regionRE.MatchString(label) {
			return label
		}
	}
	return ""
}

func isAWSHost(host string) bool {
	return strings.HasSuffix(host, ".amazonaws.com") || strings.HasSuffix(host, ".amazonaws.com.cn") || strings.HasSuffix(host, ".api.aws")
}
