// Package sdkops lists service operations from the aws-sdk-go-v2 service
// modules named in go.mod. Every operation of a client is generated into a
// file api_op_<Operation>.go of its module, so the lists are read from the
// module folders (found with `go list -m`) without compiling the clients:
// compiling service/ec2 under the race detector alone takes minutes. Only the
// generator and its drift test use this package.
package sdkops

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
)

// Client describes one service: the short name rules use, the CloudTrail
// eventSource, and the SDK modules whose operations CloudTrail logs under
// that eventSource (SES v1 and v2 both log as ses.amazonaws.com, S3 and S3
// Control both as s3.amazonaws.com).
type Client struct {
	Name, EventSource string
	Modules           []string
}

const sdk = "github.com/aws/aws-sdk-go-v2/service/"

// Services are the services whose operations are listed, sorted by name.
var Services = []Client{
	{"account", "account.amazonaws.com", []string{sdk + "account"}},
	{"bedrock", "bedrock.amazonaws.com", []string{sdk + "bedrock"}},
	{"cloudtrail", "cloudtrail.amazonaws.com", []string{sdk + "cloudtrail"}},
	{"config", "config.amazonaws.com", []string{sdk + "configservice"}},
	{"ec2", "ec2.amazonaws.com", []string{sdk + "ec2"}},
	{"ecr", "ecr.amazonaws.com", []string{sdk + "ecr"}},
	{"ecs", "ecs.amazonaws.com", []string{sdk + "ecs"}},
	{"efs", "elasticfilesystem.amazonaws.com", []string{sdk + "efs"}},
	{"eks", "eks.amazonaws.com", []string{sdk + "eks"}},
	{"elasticache", "elasticache.amazonaws.com", []string{sdk + "elasticache"}},
	{"elb", "elasticloadbalancing.amazonaws.com", []string{sdk + "elasticloadbalancing", sdk + "elasticloadbalancingv2"}},
	{"glue", "glue.amazonaws.com", []string{sdk + "glue"}},
	{"guardduty", "guardduty.amazonaws.com", []string{sdk + "guardduty"}},
	{"iam", "iam.amazonaws.com", []string{sdk + "iam"}},
	{"kms", "kms.amazonaws.com", []string{sdk + "kms"}},
	{"lambda", "lambda.amazonaws.com", []string{sdk + "lambda"}},
	{"organizations", "organizations.amazonaws.com", []string{sdk + "organizations"}},
	{"rds", "rds.amazonaws.com", []string{sdk + "rds"}},
	{"route53", "route53.amazonaws.com", []string{sdk + "route53"}},
	{"route53domains", "route53domains.amazonaws.com", []string{sdk + "route53domains"}},
	{"s3", "s3.amazonaws.com", []string{sdk + "s3", sdk + "s3control"}},
	{"secretsmanager", "secretsmanager.amazonaws.com", []string{sdk + "secretsmanager"}},
	{"securityhub", "securityhub.amazonaws.com", []string{sdk + "securityhub"}},
	{"ses", "ses.amazonaws.com", []string{sdk + "ses", sdk + "sesv2"}},
	{"sns", "sns.amazonaws.com", []string{sdk + "sns"}},
	{"sqs", "sqs.amazonaws.com", []string{sdk + "sqs"}},
	{"ssm", "ssm.amazonaws.com", []string{sdk + "ssm"}},
	{"sso", "sso.amazonaws.com", []string{sdk + "ssoadmin"}},
	{"sts", "sts.amazonaws.com", []string{sdk + "sts"}},
}

// Modules returns every module path of Services.
func Modules() []string {
	var out []string
	for _, c := range Services {
		out = append(out, c.Modules...)
	}
	return out
}

// ModuleDirs asks the go command where the modules of go.mod are, from the
// folder dir (any folder inside the main module). Modules not yet in the
// module cache are downloaded first.
func ModuleDirs(dir string, mods []string) (map[string]string, error) {
	run := func(args ...string) ([]byte, error) {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("go %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return out, nil
	}
	out, err := run(append([]string{"mod", "download", "-json"}, mods...)...)
	if err != nil {
		return nil, err
	}
	dirs := map[string]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var m struct{ Path, Version, Dir, Error string }
		if err := dec.Decode(&m); err != nil {
			return nil, err
		}
		if m.Error != "" {
			return nil, fmt.Errorf("%s: %s", m.Path, m.Error)
		}
		dirs[m.Path] = m.Dir
	}
	for _, m := range mods {
		if dirs[m] == "" {
			return nil, fmt.Errorf("%s: not found by go mod download", m)
		}
	}
	return dirs, nil
}

// Operations returns the operations of the SDK module in dir: the names of
// its api_op_<Operation>.go files.
func Operations(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var ops []string
	for _, e := range ents {
		n := e.Name()
		if op, ok := strings.CutPrefix(n, "api_op_"); ok && strings.HasSuffix(op, ".go") && !strings.HasSuffix(op, "_test.go") {
			ops = append(ops, strings.TrimSuffix(op, ".go"))
		}
	}
	if len(ops) == 0 {
		return nil, fmt.Errorf("%s: no api_op_*.go files", dir)
	}
	sort.Strings(ops)
	return ops, nil
}

// Render writes a service's operations (the union over its modules) in the
// awsapi services format.
func Render(c Client, dirs map[string]string) (string, error) {
	set := map[string]bool{}
	for _, m := range c.Modules {
		ops, err := Operations(dirs[m])
		if err != nil {
			return "", err
		}
		for _, op := range ops {
			set[op] = true
		}
	}
	ops := make([]string, 0, len(set))
	for op := range set {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	var b strings.Builder
	fmt.Fprintf(&b, "# Generated by go generate ./internal/awsapi from aws-sdk-go-v2; do not edit.\n")
	fmt.Fprintf(&b, "# service %s %s\n", c.Name, c.EventSource)
	for _, op := range ops {
		kind := "change"
		if ReadOnly(op) {
			kind = "read"
		}
		fmt.Fprintf(&b, "%s %s\n", op, kind)
	}
	return b.String(), nil
}

// ReadOnly reports whether an operation name only reads, by the verbs AWS
// uses for reads.
func ReadOnly(op string) bool {
	for _, p := range []string{"Describe", "List", "Get", "Head", "Lookup", "Search", "Check", "Test", "Validate", "Preview", "Estimate", "Simulate", "Generate", "Decrypt", "Encrypt", "Verify", "Sign", "Select", "Query", "Scan", "BatchGet", "Download", "View"} {
		if strings.HasPrefix(op, p) && (len(op) == len(p) || op[len(p)] >= 'A' && op[len(p)] <= 'Z') {
			return true
		}
	}
	return false
}
