package actor

import (
	"strings"

	"github.com/trailwatch/trailwatch/internal/event"
)

// Access methods. Tools that leave their own mark in the user agent are
// reported by name (eksctl, cdk, pulumi, crossplane, …).
const (
	Console        = "console"
	CLI            = "cli"
	SDK            = "sdk"
	Terraform      = "terraform"
	CloudFormation = "cloudformation"
	AWSService     = "aws-service"
	// CloudShell is the AWS CLI run in AWS CloudShell: console
	// credentials, but commands typed by a person.
	CloudShell = "cloudshell"
	Other      = "other"
)

// tool marks recognised in a user agent, checked in order: the most
// specific first, because tools embed the SDK they are built on.
var tools = []struct{ mark, method string }{
	{"terraform-provider-aws", Terraform},
	{"HashiCorp", Terraform},
	{"Terraform/", Terraform},
	{"OpenTofu", Terraform},
	{"eksctl", "eksctl"},
	{"aws-cdk", "cdk"},
	{"AWSCDK", "cdk"},
	{"pulumi", "pulumi"},
	{"Pulumi", "pulumi"},
	{"crossplane", "crossplane"},
	{"upbound", "crossplane"},
	{"cluster-api-provider-aws", "cluster-api"},
	{"karpenter", "karpenter"},
	{"aws-controllers-k8s", "ack"},
	{"ansible", "ansible"},
	{"Ansible", "ansible"},
	{"stratus-red-team", "stratus-red-team"},
}

// Method returns how the call was made, judged from the user agent,
// sessionCredentialFromConsole and invokedBy.
func Method(ev *event.Event) string {
	ua := ev.UserAgent
	id := ev.UserIdentity
	switch {
	case id.InvokedBy == "cloudformation.amazonaws.com", ua == "cloudformation.amazonaws.com",
		ev.SourceIPAddress == "cloudformation.amazonaws.com":
		return CloudFormation
	case id.Type == "AWSService":
		return AWSService
	}
	for _, t := range tools {
		if strings.Contains(ua, t.mark) {
			return t.method
		}
	}
	if strings.Contains(ua, "exec-env/CloudShell") {
		return CloudShell
	}
	switch {
	case ev.SessionCredentialFromConsole == "true":
		return Console
	case strings.HasPrefix(ua, "aws-cli/"), strings.HasPrefix(ua, "[aws-cli/"),
		strings.Contains(ua, "AWSPowerShell"), strings.HasPrefix(ua, "aws-shell"):
		return CLI
	case isConsoleAgent(ua):
		return Console
	case id.InvokedBy != "", ua == "AWS Internal", ev.SourceIPAddress == "AWS Internal",
		strings.HasSuffix(ua, ".amazonaws.com") && !strings.Contains(ua, " "):
		return AWSService
	case isSDK(ua):
		return SDK
	}
	return Other
}

func isConsoleAgent(ua string) bool {
	switch {
	case strings.HasPrefix(ua, "Mozilla/"), strings.HasPrefix(ua, "[Mozilla/"),
		ua == "signin.amazonaws.com", ua == "console.amazonaws.com",
		ua == "console.aws.amazon.com", strings.HasSuffix(ua, ".console.aws.amazon.com"),
		strings.HasPrefix(ua, "console.") && strings.HasSuffix(ua, ".amazonaws.com"),
		strings.Contains(ua, "Console"):
		return true
	}
	return false
}

var sdkMarks = []string{"aws-sdk-", "Boto3", "boto3", "Botocore", "botocore", "AWS-SDK", "aws-internal/", "APN/", "AWSSDK", "aws-chalice", "amplify"}

func isSDK(ua string) bool {
	for _, m := range sdkMarks {
		if strings.Contains(ua, m) {
			return true
		}
	}
	return false
}
