package actor

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/trailwatch/trailwatch/internal/event"
)

// decode builds an event from a record's JSON, the way the scanner does.
func decode(t *testing.T, rec string) *event.Event {
	t.Helper()
	ev, err := event.DecodeRecord([]byte(rec))
	if err != nil {
		t.Fatalf("DecodeRecord(%s): %v", rec, err)
	}
	return ev
}

// record wraps a userIdentity (JSON, or "" for none) and extra members in a
// minimal EKS record.
func record(identity, extra string) string {
	s := `{"eventVersion":"1.09","eventSource":"eks.amazonaws.com","eventName":"CreateCluster","eventID":"x"`
	if identity != "" {
		s += `,"userIdentity":` + identity
	}
	return s + extra + `}`
}

func TestOf(t *testing.T) {
	tests := []struct {
		name     string
		identity string
		extra    string
		want     Actor
	}{
		{
			name:     "root",
			identity: `{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333","accessKeyId":"ASIAROOT","sessionContext":{"attributes":{"creationDate":"2024-01-01T00:00:00Z","mfaAuthenticated":"true"}}}`,
			want:     Actor{Type: "Root", ARN: "arn:aws:iam::111122223333:root", Name: "root", AccountID: "111122223333", AccessKeyID: "ASIAROOT", MFA: true},
		},
		{
			name:     "root without MFA",
			identity: `{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"}`,
			want:     Actor{Type: "Root", ARN: "arn:aws:iam::111122223333:root", Name: "root", AccountID: "111122223333"},
		},
		{
			name:     "IAM user",
			identity: `{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAEXAMPLE","userName":"alice"}`,
			want:     Actor{Type: "IAMUser", ARN: "arn:aws:iam::111122223333:user/alice", Name: "alice", AccountID: "111122223333", AccessKeyID: "AKIAEXAMPLE"},
		},
		{
			name:     "IAM user with a path, no userName",
			identity: `{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/ops/bob"}`,
			want:     Actor{Type: "IAMUser", ARN: "arn:aws:iam::111122223333:user/ops/bob", Name: "bob"},
		},
		{
			name:     "IAM user with only a principal id",
			identity: `{"type":"IAMUser","principalId":"AIDAEXAMPLE"}`,
			want:     Actor{Type: "IAMUser", Name: "AIDAEXAMPLE"},
		},
		{
			name:     "IAM user with MFA as a JSON bool",
			identity: `{"type":"IAMUser","userName":"alice","sessionContext":{"attributes":{"mfaAuthenticated":true}}}`,
			want:     Actor{Type: "IAMUser", Name: "alice", MFA: true},
		},
		{
			name: "assumed role",
			identity: `{"type":"AssumedRole","principalId":"AROAEXAMPLE:deploy-session","arn":"arn:aws:sts::111122223333:assumed-role/Deployer/deploy-session","accountId":"111122223333","accessKeyId":"ASIAEXAMPLE",` +
				`"sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLE","arn":"arn:aws:iam::111122223333:role/Deployer","accountId":"111122223333","userName":"Deployer"},"attributes":{"creationDate":"2024-01-01T00:00:00Z","mfaAuthenticated":"false"},"sourceIdentity":"carol"}}`,
			want: Actor{Type: "AssumedRole", ARN: "arn:aws:sts::111122223333:assumed-role/Deployer/deploy-session", Name: "Deployer/deploy-session", SessionName: "deploy-session", Role: "Deployer",
				SourceIdentity: "carol", AccountID: "111122223333", AccessKeyID: "ASIAEXAMPLE"},
		},
		{
			name:     "assumed role, issuer name only in its ARN",
			identity: `{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/Deployer/s1","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::111122223333:role/team/Deployer"}}}`,
			want:     Actor{Type: "AssumedRole", ARN: "arn:aws:sts::111122223333:assumed-role/Deployer/s1", Name: "Deployer/s1", SessionName: "s1", Role: "Deployer"},
		},
		{
			name:     "assumed role without sessionContext",
			identity: `{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/Deployer/s1"}`,
			want:     Actor{Type: "AssumedRole", ARN: "arn:aws:sts::111122223333:assumed-role/Deployer/s1", Name: "Deployer/s1", SessionName: "s1", Role: "Deployer"},
		},
		{
			name:     "assumed role whose session is named like the role",
			identity: `{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/Deployer/Deployer","sessionContext":{"sessionIssuer":{"userName":"Deployer"}}}`,
			want:     Actor{Type: "AssumedRole", ARN: "arn:aws:sts::111122223333:assumed-role/Deployer/Deployer", Name: "Deployer", SessionName: "Deployer", Role: "Deployer"},
		},
		{
			name:     "assumed role with nothing but its type",
			identity: `{"type":"AssumedRole"}`,
			want:     Actor{Type: "AssumedRole", Name: "AssumedRole"},
		},
		{
			name: "IAM Identity Center permission set",
			identity: `{"type":"AssumedRole","principalId":"AROAEXAMPLE:alice@example.com","arn":"arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice@example.com","accountId":"111122223333",` +
				`"sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_AdministratorAccess_0123456789abcdef","userName":"AWSReservedSSO_AdministratorAccess_0123456789abcdef"},"attributes":{"mfaAuthenticated":"false"}}}`,
			want: Actor{Type: "AssumedRole", ARN: "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice@example.com",
				Name: "alice@example.com (SSO AdministratorAccess)", SessionName: "alice@example.com", Role: "AWSReservedSSO_AdministratorAccess_0123456789abcdef",
				PermissionSet: "AdministratorAccess", AccountID: "111122223333"},
		},
		{
			name:     "IAM Identity Center permission set with underscores, from the ARN",
			identity: `{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Read_Only_fedcba9876543210/bob"}`,
			want: Actor{Type: "AssumedRole", ARN: "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Read_Only_fedcba9876543210/bob",
				Name: "bob (SSO Read_Only)", SessionName: "bob", Role: "AWSReservedSSO_Read_Only_fedcba9876543210", PermissionSet: "Read_Only"},
		},
		{
			name: "service-linked role session",
			identity: `{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForAmazonEKS/EKS","invokedBy":"eks.amazonaws.com",` +
				`"sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111122223333:role/aws-service-role/eks.amazonaws.com/AWSServiceRoleForAmazonEKS","userName":"AWSServiceRoleForAmazonEKS"}}}`,
			want: Actor{Type: "AssumedRole", ARN: "arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForAmazonEKS/EKS", Name: "AWSServiceRoleForAmazonEKS/EKS",
				SessionName: "EKS", Role: "AWSServiceRoleForAmazonEKS", InvokedBy: "eks.amazonaws.com", Automatic: true},
		},
		{
			name:     "service-linked role known by name only",
			identity: `{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling"}`,
			want: Actor{Type: "AssumedRole", ARN: "arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling", Name: "AWSServiceRoleForAutoScaling/AutoScaling",
				SessionName: "AutoScaling", Role: "AWSServiceRoleForAutoScaling", Automatic: true},
		},
		{
			name:     "service-linked role by its path",
			identity: `{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/CustomSLR/s","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::111122223333:role/aws-service-role/custom.amazonaws.com/CustomSLR","userName":"CustomSLR"}}}`,
			want:     Actor{Type: "AssumedRole", ARN: "arn:aws:sts::111122223333:assumed-role/CustomSLR/s", Name: "CustomSLR/s", SessionName: "s", Role: "CustomSLR", Automatic: true},
		},
		{
			name:     "Role identity",
			identity: `{"type":"Role","arn":"arn:aws:iam::111122223333:role/aws-service-role/eks.amazonaws.com/AWSServiceRoleForAmazonEKS"}`,
			want:     Actor{Type: "Role", ARN: "arn:aws:iam::111122223333:role/aws-service-role/eks.amazonaws.com/AWSServiceRoleForAmazonEKS", Name: "AWSServiceRoleForAmazonEKS", Role: "AWSServiceRoleForAmazonEKS", Automatic: true},
		},
		{
			name:     "AWS service",
			identity: `{"type":"AWSService","invokedBy":"eks.amazonaws.com"}`,
			extra:    `,"sourceIPAddress":"eks.amazonaws.com"`,
			want:     Actor{Type: "AWSService", Name: "eks.amazonaws.com", InvokedBy: "eks.amazonaws.com", Automatic: true},
		},
		{
			name:     "no type, AWS internal work",
			identity: `{"accountId":"111122223333","invokedBy":"AWS Internal"}`,
			want:     Actor{Type: "AWSService", Name: "AWS Internal", AccountID: "111122223333", InvokedBy: "AWS Internal", Automatic: true},
		},
		{
			name:     "no type, invoked by a service",
			identity: `{"invokedBy":"cloudtrail.amazonaws.com"}`,
			want:     Actor{Type: "AWSService", Name: "cloudtrail.amazonaws.com", InvokedBy: "cloudtrail.amazonaws.com", Automatic: true},
		},
		{
			name:     "AWS service without invokedBy",
			identity: `{"type":"AWSService"}`,
			extra:    `,"sourceIPAddress":"autoscaling.amazonaws.com"`,
			want:     Actor{Type: "AWSService", Name: "autoscaling.amazonaws.com", Automatic: true},
		},
		{
			name:     "AWS service, nothing known",
			identity: `{"type":"AWSService"}`,
			want:     Actor{Type: "AWSService", Name: "AWS service", Automatic: true},
		},
		{
			name: "federated user",
			identity: `{"type":"FederatedUser","principalId":"111122223333:bob","arn":"arn:aws:sts::111122223333:federated-user/bob","accountId":"111122223333","accessKeyId":"ASIAFED",` +
				`"sessionContext":{"sessionIssuer":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","userName":"alice"},"attributes":{"mfaAuthenticated":"false"}}}`,
			want: Actor{Type: "FederatedUser", ARN: "arn:aws:sts::111122223333:federated-user/bob", Name: "alice/bob", AccountID: "111122223333", AccessKeyID: "ASIAFED"},
		},
		{
			name:     "federated user without issuer",
			identity: `{"type":"FederatedUser","principalId":"111122223333:bob"}`,
			want:     Actor{Type: "FederatedUser", Name: "111122223333:bob"},
		},
		{
			name:     "IAM Identity Center user",
			identity: `{"type":"IdentityCenterUser","accountId":"111122223333","onBehalfOf":{"userId":"9067-uid","identityStoreArn":"arn:aws:identitystore::111122223333:identitystore/d-1"},"credentialId":"c"}`,
			want:     Actor{Type: "IdentityCenterUser", Name: "9067-uid (Identity Center)", AccountID: "111122223333"},
		},
		{
			name:     "IAM Identity Center user with a user name",
			identity: `{"type":"IdentityCenterUser","userName":"alice","onBehalfOf":{"userId":"9067-uid"}}`,
			want:     Actor{Type: "IdentityCenterUser", Name: "alice (Identity Center)"},
		},
		{
			name:     "AWS account",
			identity: `{"type":"AWSAccount","principalId":"AIDAEXAMPLE","accountId":"444455556666"}`,
			want:     Actor{Type: "AWSAccount", Name: "account 444455556666", AccountID: "444455556666"},
		},
		{
			name:     "unknown type",
			identity: `{"type":"SAMLUser","principalId":"idp:alice","userName":"alice"}`,
			want:     Actor{Type: "SAMLUser", Name: "alice"},
		},
		{
			name:     "unknown type with nothing else",
			identity: `{"type":"Unknown"}`,
			want:     Actor{Type: "Unknown", Name: "Unknown"},
		},
		{
			name:     "identity without type",
			identity: `{"principalId":"AIDAEXAMPLE","accountId":"1"}`,
			want:     Actor{Type: "Unknown", Name: "AIDAEXAMPLE", AccountID: "1"},
		},
		{
			name:     "empty userIdentity",
			identity: `{}`,
			want:     Actor{Type: "Unknown", Name: "Unknown"},
		},
		{
			name:     "missing userIdentity",
			identity: ``,
			want:     Actor{Type: "Unknown", Name: "Unknown"},
		},
		{
			name:     "null userIdentity",
			identity: `null`,
			want:     Actor{Type: "Unknown", Name: "Unknown"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Of(decode(t, record(tc.identity, tc.extra)))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Of (-want +got):\n%s", diff)
			}
			if got.Root() != (tc.want.Type == "Root") {
				t.Errorf("Root() = %v", got.Root())
			}
		})
	}
}

func TestMethod(t *testing.T) {
	const (
		iam      = `{"type":"IAMUser","userName":"alice","arn":"arn:aws:iam::111122223333:user/alice"}`
		role     = `{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/R/s"}`
		cfnRole  = `{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/R/s","invokedBy":"cloudformation.amazonaws.com"}`
		service  = `{"type":"AWSService","invokedBy":"eks.amazonaws.com"}`
		invokedE = `{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/R/s","invokedBy":"ec2.amazonaws.com"}`
	)
	ua := func(s string) string { return `,"userAgent":"` + s + `"` }
	tests := []struct {
		name, identity, extra, want string
	}{
		// console
		{"console credentials", iam, ua("aws-sdk-go-v2/1.0") + `,"sessionCredentialFromConsole":"true"`, Console},
		{"console credentials beat the CLI mark", role, ua("aws-cli/2.15.0") + `,"sessionCredentialFromConsole":"true"`, Console},
		{"browser", iam, ua("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"), Console},
		{"bracketed browser", iam, ua("[Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)]"), Console},
		{"S3 console", iam, ua("[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488 Linux/5.10 OpenJDK_64-Bit_Server_VM/25.372-b08 java/1.8.0_372 vendor/Oracle_Corporation cfg/retry-mode/standard]"), Console},
		{"signin", iam, ua("signin.amazonaws.com"), Console},
		{"console host", iam, ua("console.amazonaws.com"), Console},
		{"console web host", iam, ua("console.aws.amazon.com"), Console},
		{"regional console web host", iam, ua("us-east-1.console.aws.amazon.com"), Console},
		{"EC2 console host", iam, ua("console.ec2.amazonaws.com"), Console},
		{"sessionCredentialFromConsole false", iam, ua("aws-sdk-go-v2/1.0") + `,"sessionCredentialFromConsole":"false"`, SDK},

		// cli
		{"aws-cli v2", iam, ua("aws-cli/2.17.32 md/awscrt#0.21.2 ua/2.0 os/linux#5.15 md/arch#x86_64 lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off md/command#eks.create-cluster"), CLI},
		{"aws-cli v1", iam, ua("aws-cli/1.18.69 Python/3.8.10 Linux/5.4.0 botocore/1.17.9"), CLI},
		{"bracketed aws-cli", iam, ua("[aws-cli/2.9.0 Python/3.9.11 Windows/10 exe/AMD64 prompt/off command/eks.delete-cluster]"), CLI},
		{"CloudShell aws-cli", iam, ua("aws-cli/2.13.25 Python/3.11.5 Linux/4.14 exec-env/CloudShell exe/x86_64.amzn.2 prompt/off command/eks.list-clusters"), CloudShell},
		{"CloudShell aws-cli with console credentials", iam, ua("aws-cli/2.13.25 Python/3.11.5 Linux/4.14 exec-env/CloudShell exe/x86_64.amzn.2 prompt/off command/iam.list-users") + `,"sessionCredentialFromConsole":"true"`, CloudShell},
		{"PowerShell", iam, ua("AWSPowerShell/4.1.0.0 .NET_Runtime/4.0 .NET_Framework/4.0 OS/Microsoft_Windows_NT_10.0.19045.0 WindowsPowerShell/5.0 ClientSync"), CLI},
		{"aws-shell", iam, ua("aws-shell/0.2.1 Python/3.7"), CLI},

		// sdk
		{"Boto3", role, ua("Boto3/1.26.153 md/Botocore#1.29.153 ua/2.0 os/linux#5.10 md/arch#x86_64 lang/python#3.9.16 md/pyimpl#CPython exec-env/AWS_Lambda_python3.9 cfg/retry-mode#legacy Botocore/1.29.153"), SDK},
		{"botocore", role, ua("Botocore/1.31.0 Python/3.11"), SDK},
		{"aws-sdk-go-v2", role, ua("aws-sdk-go-v2/1.21.0 os/linux lang/go#1.21.1 md/GOOS#linux md/GOARCH#amd64 api/eks#1.29.6"), SDK},
		{"aws-sdk-go", role, ua("aws-sdk-go/1.44.327 (go1.20.7; linux; amd64)"), SDK},
		{"aws-sdk-java", role, ua("aws-sdk-java/1.12.500 Linux/5.10 OpenJDK_64-Bit_Server_VM/17.0.7+7-LTS java/17.0.7 vendor/Amazon.com_Inc. cfg/retry-mode/standard"), SDK},
		{"aws-sdk-java v2", role, ua("aws-sdk-java/2.20.0 Linux/5.10 OpenJDK_64-Bit_Server_VM/17 Java/17 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy"), SDK},
		{"aws-sdk-js", role, ua("aws-sdk-js/3.400.0 ua/2.0 os/linux#5.10 lang/js md/nodejs#18.17.1 api/eks#3.400.0"), SDK},
		{".NET SDK", role, ua("aws-sdk-dotnet-coreclr/3.7.0 aws-sdk-dotnet-core/3.7.0 .NET_Core/6.0 OS/Linux ClientAsync"), SDK},
		{"internal SDK", role, ua("aws-internal/3 aws-sdk-java/1.12.0"), SDK},

		// infrastructure as code and tools
		{"terraform", role, ua("APN/1.0 HashiCorp/1.0 Terraform/1.5.7 (+https://www.terraform.io) terraform-provider-aws/5.17.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.21.0 os/linux lang/go#1.20.8 md/GOOS#linux md/GOARCH#amd64 api/eks#1.29.5"), Terraform},
		{"terraform old", role, ua("HashiCorp/1.0 Terraform/0.12.31 (+https://www.terraform.io) terraform-provider-aws/3.76.1 aws-sdk-go/1.44.0"), Terraform},
		{"terraform with console credentials", role, ua("Terraform/1.6.0 aws-sdk-go-v2/1.21.0") + `,"sessionCredentialFromConsole":"true"`, Terraform},
		{"OpenTofu", role, ua("APN/1.0 OpenTofu/1.6.0 terraform-provider-aws/5.31.0 aws-sdk-go-v2/1.24.0"), Terraform},
		{"eksctl", role, ua("aws-sdk-go-v2/1.24.0 os/linux lang/go#1.21.5 md/GOOS#linux md/GOARCH#amd64 api/eks#1.37.0 eksctl/0.167.0"), "eksctl"},
		{"cdk", role, ua("aws-cdk/2.100.0 aws-sdk-js/2.1400.0"), "cdk"},
		{"pulumi", role, ua("pulumi-resource-aws/6.0 aws-sdk-go-v2/1.0"), "pulumi"},
		{"crossplane", role, ua("crossplane-provider-aws/v0.40 aws-sdk-go-v2/1.0"), "crossplane"},
		{"cluster api", role, ua("aws-sdk-go/1.44 (go1.20; linux; amd64) cluster-api-provider-aws/v2.3.0"), "cluster-api"},
		{"karpenter", role, ua("aws-sdk-go-v2/1.24 karpenter.sh-v0.33.0"), "karpenter"},
		{"ACK", role, ua("aws-controllers-k8s/eks.services.k8s.aws-v1.0 aws-sdk-go/1.44"), "ack"},
		{"ansible", role, ua("Boto3/1.28 Python/3.11 ansible/8.0 Botocore/1.31"), "ansible"},
		{"stratus red team", role, ua("stratus-red-team_0a1b2c3d-e4f5"), "stratus-red-team"},

		// cloudformation
		{"cloudformation invokedBy", cfnRole, ua("cloudformation.amazonaws.com"), CloudFormation},
		{"cloudformation invokedBy, other agent", cfnRole, ua("aws-sdk-go-v2/1.0"), CloudFormation},
		{"cloudformation agent", role, ua("cloudformation.amazonaws.com"), CloudFormation},
		{"cloudformation source IP", role, ua("something") + `,"sourceIPAddress":"cloudformation.amazonaws.com"`, CloudFormation},
		{"cloudformation as an AWS service identity", `{"type":"AWSService","invokedBy":"cloudformation.amazonaws.com"}`, ``, CloudFormation},

		// AWS itself
		{"AWS service identity", service, ua("eks.amazonaws.com"), AWSService},
		{"AWS service identity with a browser agent", service, ua("Mozilla/5.0"), AWSService},
		{"AWS Internal agent", role, ua("AWS Internal"), AWSService},
		{"AWS Internal source IP", role, ua("aws-sdk-java/1.12") + `,"sourceIPAddress":"AWS Internal"`, AWSService},
		{"invoked by a service", invokedE, ua("ec2.amazonaws.com"), AWSService},
		{"no type, AWS internal", `{"accountId":"111122223333","invokedBy":"AWS Internal"}`, ``, AWSService},
		{"service host agent", role, ua("autoscaling.amazonaws.com"), AWSService},

		// other
		{"no user agent", iam, ``, Other},
		{"curl", iam, ua("curl/8.4.0"), Other},
		{"python requests", iam, ua("python-requests/2.31.0"), Other},
		{"host with a space", iam, ua("x.amazonaws.com extra"), Other},
		{"missing userIdentity", ``, ua("unknown-tool/1"), Other},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := decode(t, record(tc.identity, tc.extra))
			if got := Method(ev); got != tc.want {
				t.Errorf("Method = %q, want %q (userAgent %q)", got, tc.want, ev.UserAgent)
			}
		})
	}
}

// knownMethods is every value Method can return.
func knownMethods() map[string]bool {
	m := map[string]bool{Console: true, CLI: true, SDK: true, Terraform: true, CloudFormation: true, AWSService: true, CloudShell: true, Other: true}
	for _, t := range tools {
		m[t.method] = true
	}
	return m
}

func TestMethodValuesKnown(t *testing.T) {
	known := knownMethods()
	for _, tl := range tools {
		ev := &event.Event{UserAgent: "prefix " + tl.mark + "/1.0 suffix"}
		got := Method(ev)
		if !known[got] {
			t.Errorf("Method for %q = %q, not a known method", tl.mark, got)
		}
		if got != tl.method {
			// An earlier, more specific mark may win; it must be one of
			// the same tool's marks.
			first := ""
			for _, t2 := range tools {
				if t2.method == got {
					first = t2.mark
					break
				}
			}
			t.Errorf("Method for mark %q = %q (mark %q), want %q", tl.mark, got, first, tl.method)
		}
	}
}
