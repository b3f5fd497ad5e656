package scan_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/rule"
	"github.com/trailwatch/trailwatch/internal/scan"
)

func s3Gzip(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.Bytes()
}

func s3Record(id, account, region, name, params string) string {
	return fmt.Sprintf(`{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::%[2]s:user/alice","accountId":"%[2]s","userName":"alice"},`+
		`"eventTime":"2026-11-01T01:00:00Z","eventSource":"eks.amazonaws.com","eventName":"%[4]s","awsRegion":"%[3]s","sourceIPAddress":"203.0.113.7",`+
		`"userAgent":"aws-cli/2.15.0","requestParameters":%[5]s,"responseElements":null,"eventID":"%[1]s","eventType":"AwsApiCall","recipientAccountId":"%[2]s"}`,
		id, account, region, name, params)
}

// TestScanS3 scans a bucket laid out as CloudTrail writes it, through the
// default client pointed at an in-process S3 by TRAILWATCH_S3_ENDPOINT.
func TestScanS3(t *testing.T) {
	be := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(be).Server())
	defer srv.Close()
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		scan.S3EndpointEnv: srv.URL, "AWS_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE000000000", "AWS_SECRET_ACCESS_KEY": "example-secret-key", "AWS_SESSION_TOKEN": "",
		"AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none, "AWS_PROFILE": "", "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	const bucket = "trail-bucket"
	if err := be.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	put := func(key string, body []byte) string {
		if _, err := be.PutObject(bucket, key, map[string]string{}, bytes.NewReader(body), int64(len(body)), nil); err != nil {
			t.Fatal(err)
		}
		return "s3://" + bucket + "/" + key
	}
	public := `{"name":"prod","resourcesVpcConfig":{"publicAccessCidrs":["0.0.0.0/0"]}}`
	a := put("logs/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/01/111122223333_CloudTrail_us-east-1_20261101T0100Z_a.json.gz",
		s3Gzip(`{"Records":[`+s3Record("ev-1", "111122223333", "us-east-1", "UpdateClusterConfig", public)+","+
			s3Record("ev-2", "111122223333", "us-east-1", "DescribeCluster", `{"name":"prod"}`)+`]}`))
	b := put("logs/AWSLogs/o-abc1234567/222233334444/CloudTrail/eu-west-1/2026/11/01/222233334444_CloudTrail_eu-west-1_20261101T0200Z_b.json.gz",
		s3Gzip(`{"Records":[`+s3Record("ev-3", "222233334444", "eu-west-1", "UpdateClusterConfig", public)+`]}`))
	bad := put("logs/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/01/111122223333_CloudTrail_us-east-1_20261101T0300Z_c.json.gz",
		[]byte("\x1f\x8bthis is no gzip"))
	// A digest holding what would be a finding: it must not be read.
	put("logs/AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/01/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20261101T0100Z.json.gz",
		s3Gzip(`{"Records":[`+s3Record("ev-digest", "111122223333", "us-east-1", "UpdateClusterConfig", public)+`]}`))
	put("other/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/01/x.json.gz",
		s3Gzip(`{"Records":[`+s3Record("ev-other", "111122223333", "us-east-1", "UpdateClusterConfig", public)+`]}`))

	c, err := rule.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := rule.NewEngine(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	var errs []string
	sc := scan.New(scan.Options{
		Engine: eng,
		Findings: func(fs []finding.Finding) error {
			for _, f := range fs {
				found = append(found, fmt.Sprintf("%s %s %s %s", f.EventID, f.RuleID, f.Risk, f.Origin))
			}
			return nil
		},
		Errors: func(err error) { errs = append(errs, err.Error()) },
	})
	if err := sc.Paths(context.Background(), []string{"s3://" + bucket + "/logs", "s3://no-such-bucket/x"}, nil); err != nil {
		t.Fatal(err)
	}
	sort.Strings(found)
	want := []string{
		"ev-1 EKS-CLUSTER-CONFIG " + finding.VeryHigh.String() + " " + a,
		"ev-3 EKS-CLUSTER-CONFIG " + finding.VeryHigh.String() + " " + b,
	}
	if diff := cmp.Diff(want, found); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	sort.Strings(errs) // two workers report them in either order
	if len(errs) != 2 || !strings.HasPrefix(errs[1], bad+": ") || !strings.HasPrefix(errs[0], "s3://no-such-bucket/x: ") {
		t.Errorf("errors: %q; want one naming %s, one naming the missing bucket", errs, bad)
	}
	st := sc.Stats.Snapshot()
	if st.Files != 3 || st.Records != 3 || st.Findings != 2 || st.FilesWithErrors != 1 {
		t.Errorf("stats %+v; want 3 files, 3 records, 2 findings, 1 file with errors", st)
	}
}
