package source

import "testing"

func TestTrailOfKey(t *testing.T) {
	for key, want := range map[string]Trail{
		"AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20/111122223333_CloudTrail_eu-west-1_20261120T1005Z_x.json.gz":                 {"111122223333", "eu-west-1"},
		"prefix/AWSLogs/o-abc123/444455556666/CloudTrail/us-east-1/2026/11/20/444455556666_CloudTrail_us-east-1_20261120T1005Z_y.json.gz": {"444455556666", "us-east-1"},
	} {
		if got, ok := TrailOfKey(key); !ok || got != want {
			t.Errorf("TrailOfKey(%s) = %v, %v", key, got, ok)
		}
	}
	for _, key := range []string{"AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/x.json.gz", "random/key.json", "AWSLogs/notanaccount/CloudTrail/eu-west-1/x"} {
		if _, ok := TrailOfKey(key); ok {
			t.Errorf("TrailOfKey(%s) matched", key)
		}
	}
}
