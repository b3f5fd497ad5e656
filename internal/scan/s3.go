package scan

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"

	s3source "github.com/trailwatch/trailwatch/internal/source/s3"
)

// S3EndpointEnv names the environment variable that points s3:// scans at
// another endpoint (an S3-compatible store, a test server), with path-style
// addressing. The region comes from the AWS configuration (AWS_REGION or
// the profile; default us-east-1), credentials from the default chain.
const S3EndpointEnv = "TRAILWATCH_S3_ENDPOINT"

// S3Client is what an s3:// scan needs of S3 (*s3.Client implements it).
type S3Client = s3source.Client

// s3Client builds the client once, on the first s3:// path.
type s3Client struct {
	once sync.Once
	c    S3Client
	err  error
}

func (s *Scanner) s3Client(ctx context.Context) (S3Client, error) {
	s.s3.once.Do(func() {
		if s.opts.S3 != nil {
			s.s3.c = s.opts.S3
			return
		}
		s.s3.c, s.s3.err = s3source.NewClient(ctx, s3source.ClientConfig{Endpoint: os.Getenv(S3EndpointEnv), Logger: s.opts.Logger})
	})
	return s.s3.c, s.s3.err
}

func isS3(p string) bool { return strings.HasPrefix(p, "s3://") }

var errStopped = errors.New("scan stopped")

// s3List sends every object under an s3:// path to the workers, as
// s3://bucket/key. It returns false when the scan stopped.
func (s *Scanner) s3List(ctx context.Context, p string, send func(string) bool) bool {
	bucket, prefix, err := s3source.ParseURL(p)
	if err != nil {
		s.fail(&FileError{Path: p, Err: err})
		return true
	}
	c, err := s.s3Client(ctx)
	if err != nil {
		s.fail(&FileError{Path: p, Err: err})
		return true
	}
	err = s3source.List(ctx, c, bucket, prefix, func(key string) error {
		if !Scannable(key) {
			s.Stats.Skipped.Add(1)
			return nil
		}
		if !send("s3://" + bucket + "/" + key) {
			return errStopped
		}
		return nil
	})
	switch {
	case errors.Is(err, errStopped):
		return false
	case err != nil && ctx.Err() != nil:
		return false
	case err != nil:
		s.fail(&FileError{Path: p, Err: errors.Unwrap(err)})
	}
	return true
}

// s3Object scans one object, streamed.
func (s *Scanner) s3Object(ctx context.Context, path string) error {
	bucket, key, err := s3source.ParseURL(path)
	var c S3Client
	if err == nil {
		c, err = s.s3Client(ctx)
	}
	if err != nil {
		s.fail(&FileError{Path: path, Err: err})
		s.Stats.FilesWithErrors.Add(1)
		return nil
	}
	body, err := s3source.Open(ctx, c, bucket, key)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.fail(&FileError{Path: path, Err: errors.Unwrap(err)})
		s.Stats.FilesWithErrors.Add(1)
		return nil
	}
	defer body.Close()
	s.Stats.Files.Add(1)
	return s.Reader(ctx, path, body)
}
