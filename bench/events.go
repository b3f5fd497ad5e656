package bench

import (
	"fmt"
	"strings"
	"time"
)

// tmpl describes one API call: where it is recorded and how its request,
// response and extra data look.
type tmpl struct {
	key      string // "ec2.DescribeInstances"
	service  string // "ec2", as user agents name it
	source   string // "ec2.amazonaws.com"
	name     string
	readOnly bool
	data     bool // a data event (eventCategory Data)
	global   bool // recorded in us-east-1 only (IAM)
	build    func(g *fileGen, c *call)
}

// call is one record being generated.
type call struct {
	t         *tmpl
	p         *principal
	s         *session
	eks       *eksOp // set for EKS changes
	req, resp any
	extra     any // additionalEventData
	resources []obj
	host      string // TLS host header, when not the default
	resource  string // what error messages name
	shared    bool   // has a sharedEventID
	outcome   string
	errCode   string
	errMsg    string
	eventID   string
}

var templates = map[string]*tmpl{}

// uaService names a service as SDK user agents and IAM actions do.
var uaService = map[string]string{"monitoring": "cloudwatch", "tagging": "tag", "elasticloadbalancing": "elastic-load-balancing-v2"}

// def registers a template. flags: r read-only, d data event, g global.
func def(key, flags string, build func(g *fileGen, c *call)) *tmpl {
	src, name, _ := strings.Cut(key, ".")
	svc := src
	if s, ok := uaService[src]; ok {
		svc = s
	}
	t := &tmpl{key: key, service: svc, source: src + ".amazonaws.com", name: name, build: build,
		readOnly: strings.Contains(flags, "r"), data: strings.Contains(flags, "d"), global: strings.Contains(flags, "g")}
	if _, dup := templates[key]; dup {
		panic("bench: template defined twice: " + key)
	}
	templates[key] = t
	return t
}

// Profiles: what each kind of principal typically calls.
var (
	humanProfile = []weighted[string]{
		{10, "ec2.DescribeInstances"}, {4, "ec2.DescribeSecurityGroups"}, {3, "ec2.DescribeSubnets"}, {4, "s3.ListBuckets"},
		{4, "s3.GetObject"}, {1, "s3.PutObject"}, {10, "sts.GetCallerIdentity"}, {3, "iam.GetRole"}, {2, "iam.ListRoles"},
		{2, "iam.GetPolicyVersion"}, {8, "eks.DescribeCluster"}, {4, "eks.ListClusters"}, {2, "eks.ListNodegroups"},
		{2, "eks.DescribeNodegroup"}, {3, "logs.FilterLogEvents"}, {2, "logs.DescribeLogGroups"}, {2, "monitoring.GetMetricStatistics"},
		{3, "ssm.GetParameter"}, {2, "secretsmanager.GetSecretValue"}, {2, "lambda.ListFunctions20150331"},
		{2, "lambda.GetFunction20150331v2"}, {2, "dynamodb.DescribeTable"}, {2, "kms.Decrypt"}, {2, "sts.AssumeRole"},
		{1, "ecr.DescribeRepositories"}, {2, "cloudformation.DescribeStacks"}, {1, "elasticloadbalancing.DescribeTargetHealth"},
	}
	consoleProfile = []weighted[string]{
		{8, "ec2.DescribeInstances"}, {4, "ec2.DescribeInstanceStatus"}, {3, "ec2.DescribeVolumes"}, {3, "ec2.DescribeSecurityGroups"},
		{2, "ec2.DescribeAvailabilityZones"}, {2, "ec2.DescribeRegions"}, {3, "s3.ListBuckets"}, {3, "s3.GetBucketLocation"},
		{2, "s3.GetBucketAcl"}, {2, "s3.GetBucketPolicy"}, {2, "s3.GetBucketVersioning"}, {2, "iam.GetAccountSummary"},
		{3, "iam.ListRoles"}, {3, "iam.GetRole"}, {2, "iam.ListAttachedRolePolicies"}, {4, "monitoring.DescribeAlarms"},
		{4, "monitoring.GetMetricData"}, {3, "logs.DescribeLogGroups"}, {2, "logs.DescribeLogStreams"}, {2, "logs.GetLogEvents"},
		{4, "eks.DescribeCluster"}, {2, "eks.ListClusters"}, {2, "eks.ListNodegroups"}, {2, "eks.ListAddons"},
		{1, "eks.ListAccessEntries"}, {1, "eks.DescribeAddonVersions"}, {1, "eks.ListUpdates"}, {2, "lambda.ListFunctions20150331"},
		{1, "dynamodb.ListTables"}, {2, "cloudformation.DescribeStacks"}, {1, "kms.ListAliases"}, {1, "secretsmanager.ListSecrets"},
		{2, "elasticloadbalancing.DescribeLoadBalancers"}, {2, "autoscaling.DescribeAutoScalingGroups"},
	}
	terraformProfile = []weighted[string]{
		{5, "ec2.DescribeSecurityGroups"}, {4, "ec2.DescribeSubnets"}, {3, "ec2.DescribeInstances"}, {2, "ec2.DescribeImages"},
		{2, "ec2.DescribeTags"}, {2, "ec2.DescribeAvailabilityZones"}, {6, "iam.GetRole"}, {3, "iam.ListRolePolicies"},
		{3, "iam.ListAttachedRolePolicies"}, {3, "iam.GetPolicy"}, {3, "iam.GetPolicyVersion"}, {1, "iam.GetOpenIDConnectProvider"},
		{1, "iam.ListInstanceProfilesForRole"}, {6, "eks.DescribeCluster"}, {3, "eks.DescribeNodegroup"}, {2, "eks.DescribeAddon"},
		{1, "eks.DescribeAddonVersions"}, {3, "s3.GetObject"}, {1, "s3.PutObject"}, {2, "dynamodb.GetItem"}, {1, "dynamodb.PutItem"},
		{2, "kms.Decrypt"}, {1, "kms.GenerateDataKey"}, {2, "kms.DescribeKey"}, {4, "sts.GetCallerIdentity"},
		{2, "logs.DescribeLogGroups"}, {2, "lambda.GetFunction20150331v2"}, {2, "ssm.GetParameter"}, {1, "secretsmanager.DescribeSecret"},
		{1, "s3.GetBucketPolicy"}, {1, "s3.GetBucketVersioning"}, {1, "s3.GetBucketAcl"}, {1, "ec2.CreateTags"},
		{1, "cloudformation.DescribeStacks"}, {1, "elasticloadbalancing.DescribeTargetGroups"},
	}
	nodeProfile = []weighted[string]{
		{6, "ecr.GetAuthorizationToken"}, {6, "ecr.BatchGetImage"}, {8, "ecr.GetDownloadUrlForLayer"}, {6, "ec2.DescribeInstances"},
		{4, "ec2.DescribeNetworkInterfaces"}, {2, "ec2.AssignPrivateIpAddresses"}, {3, "ec2.DescribeTags"},
		{6, "ssm.UpdateInstanceInformation"}, {3, "ssm.ListInstanceAssociations"}, {2, "eks.DescribeCluster"},
		{1, "sts.GetCallerIdentity"}, {1, "logs.CreateLogStream"}, {1, "ec2.DescribeInstanceTypes"}, {1, "kms.Decrypt"},
	}
	lambdaProfile = []weighted[string]{
		{10, "dynamodb.GetItem"}, {8, "dynamodb.Query"}, {6, "dynamodb.PutItem"}, {3, "dynamodb.UpdateItem"}, {8, "s3.GetObject"},
		{5, "s3.PutObject"}, {2, "s3.HeadObject"}, {6, "kms.Decrypt"}, {3, "kms.GenerateDataKey"},
		{3, "secretsmanager.GetSecretValue"}, {3, "ssm.GetParameter"}, {2, "lambda.Invoke"}, {1, "sts.GetCallerIdentity"},
	}
	karpenterProfile = []weighted[string]{
		{6, "ec2.DescribeInstances"}, {3, "ec2.DescribeInstanceTypes"}, {3, "ec2.DescribeSubnets"}, {3, "ec2.DescribeSecurityGroups"},
		{2, "ec2.DescribeImages"}, {2, "ec2.DescribeLaunchTemplates"}, {1, "ec2.DescribeSpotPriceHistory"},
		{1, "ec2.DescribeAvailabilityZones"}, {1, "ec2.CreateTags"}, {3, "ssm.GetParameter"}, {2, "eks.DescribeCluster"},
		{1, "iam.GetInstanceProfile"},
	}
	monitoringProfile = []weighted[string]{
		{15, "monitoring.GetMetricData"}, {4, "monitoring.ListMetrics"}, {6, "monitoring.GetMetricStatistics"},
		{4, "ec2.DescribeInstances"}, {2, "ec2.DescribeVolumes"}, {1, "ec2.DescribeSecurityGroups"}, {2, "ec2.DescribeInstanceStatus"},
		{2, "elasticloadbalancing.DescribeLoadBalancers"}, {1, "elasticloadbalancing.DescribeTargetGroups"},
		{2, "lambda.ListFunctions20150331"}, {1, "lambda.ListTags20170331"}, {1, "dynamodb.ListTables"}, {2, "dynamodb.DescribeTable"},
		{1, "s3.ListBuckets"}, {1, "s3.GetBucketTagging"}, {1, "eks.ListClusters"}, {1, "eks.DescribeCluster"},
		{2, "autoscaling.DescribeAutoScalingGroups"}, {2, "logs.DescribeLogGroups"}, {1, "logs.FilterLogEvents"},
		{2, "tagging.GetResources"}, {1, "iam.ListAccountAliases"},
	}
	backupProfile = []weighted[string]{
		{6, "s3.PutObject"}, {1, "s3.ListBuckets"}, {2, "s3.HeadObject"}, {2, "s3.GetBucketLocation"}, {1, "dynamodb.DescribeTable"},
	}
	rootProfile = []weighted[string]{
		{2, "iam.GetAccountSummary"}, {2, "s3.ListBuckets"}, {1, "ec2.DescribeRegions"}, {1, "monitoring.DescribeAlarms"},
	}
	serviceLinkedProfile = []weighted[string]{
		{3, "ec2.DescribeInstances"}, {2, "ec2.DescribeInstanceStatus"}, {1, "ec2.RunInstances"}, {2, "ec2.CreateTags"},
		{1, "ec2.DescribeLaunchTemplates"}, {1, "elasticloadbalancing.DescribeTargetHealth"},
	}
	awsServiceProfile = []weighted[string]{
		{10, "sts.AssumeRole"}, {5, "kms.Decrypt"}, {3, "kms.GenerateDataKey"},
	}
)

// ordinary returns an everyday call.
func (g *fileGen) ordinary() *call {
	p := pickW(g.r, g.acct.principals)
	var t *tmpl
	for range 8 {
		t = templates[pickW(g.r, p.profile)]
		if !t.global || g.region == "us-east-1" {
			break
		}
		t = nil // IAM calls are recorded in us-east-1 only
	}
	if t == nil {
		t = templates["sts.GetCallerIdentity"]
	}
	c := &call{t: t, p: p, s: g.sessionOf(p)}
	t.build(g, c)
	return c
}

// assemble lays the call out as CloudTrail does.
func (g *fileGen) assemble(c *call) obj {
	p, s, t := c.p, c.s, c.t
	ver := "1.09"
	if g.chance(0.25) {
		ver = "1.08"
	}
	ua := g.userAgent(p, c)
	ip := s.ip
	switch {
	case p.kind == "AWSService" || p.invokedBy != "":
		ip = p.invokedBy
	case ua == "AWS Internal":
		ip = "AWS Internal"
	}
	vpce := p.vpce && g.chance(0.6)
	if vpce {
		ip = g.privateIP()
	}
	rec := make(obj, 0, 26)
	rec = append(rec,
		kv{"eventVersion", ver}, kv{"userIdentity", g.identity(p, s)}, kv{"eventTime", rfc3339(g.at())},
		kv{"eventSource", t.source}, kv{"eventName", t.name}, kv{"awsRegion", g.region},
		kv{"sourceIPAddress", ip}, kv{"userAgent", ua})
	if c.errCode != "" {
		rec = append(rec, kv{"errorCode", c.errCode}, kv{"errorMessage", c.errMsg})
	}
	rec = append(rec, kv{"requestParameters", c.req}, kv{"responseElements", c.resp})
	if c.extra != nil {
		rec = append(rec, kv{"additionalEventData", c.extra})
	}
	reqID := uuid(g.r)
	if t.service == "s3" {
		reqID = randString(g.r, upperHex, 16)
	}
	c.eventID = uuid(g.r)
	rec = append(rec, kv{"requestID", reqID}, kv{"eventID", c.eventID}, kv{"readOnly", t.readOnly})
	if len(c.resources) > 0 {
		rec = append(rec, kv{"resources", c.resources})
	}
	rec = append(rec, kv{"eventType", "AwsApiCall"}, kv{"managementEvent", !t.data}, kv{"recipientAccountId", g.acct.id})
	if c.shared {
		rec = append(rec, kv{"sharedEventID", uuid(g.r)})
	}
	if vpce {
		rec = append(rec, kv{"vpcEndpointId", "vpce-0" + g.hex(16)}, kv{"vpcEndpointAccountId", g.acct.id})
	}
	cat := "Management"
	if t.data {
		cat = "Data"
	}
	rec = append(rec, kv{"eventCategory", cat})
	if p.kind != "AWSService" && p.invokedBy == "" && ua != "AWS Internal" && g.chance(0.8) {
		host := c.host
		if host == "" {
			host = strings.TrimSuffix(t.source, ".amazonaws.com") + "." + g.region + ".amazonaws.com"
			if t.global {
				host = "iam.amazonaws.com"
			}
		}
		tls := obj{{"tlsVersion", "TLSv1.3"}, {"cipherSuite", "TLS_AES_128_GCM_SHA256"}, {"clientProvidedHostHeader", host}}
		if g.chance(0.3) {
			tls[0].v, tls[1].v = "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"
		}
		rec = append(rec, kv{"tlsDetails", tls})
	}
	if p.console && strings.HasPrefix(ua, "Mozilla/") {
		rec = append(rec, kv{"sessionCredentialFromConsole", "true"})
	}
	return rec
}

// action is the IAM action a call needs (lambda:GetFunction for
// GetFunction20150331v2).
func action(t *tmpl) string {
	name := strings.TrimRight(t.name, "0123456789v")
	if i := strings.IndexAny(name, "0123456789"); i > 0 {
		name = name[:i]
	}
	prefix := strings.TrimSuffix(t.source, ".amazonaws.com")
	if p, ok := uaService[prefix]; ok && prefix != "elasticloadbalancing" {
		prefix = p
	}
	return prefix + ":" + name
}

// deny turns the call into one refused for lack of permission.
func (g *fileGen) deny(c *call) {
	act := action(c.t)
	who := g.arnOf(c.p, c.s)
	res := c.resource
	if res == "" {
		res = "*"
	}
	c.resp = nil
	switch c.t.source {
	case "ec2.amazonaws.com":
		c.errCode = "Client.UnauthorizedOperation"
		c.errMsg = "You are not authorized to perform this operation. User: " + who + " is not authorized to perform: " + act + " because no identity-based policy allows the " + act + " action"
		if !c.t.readOnly {
			c.errMsg += ". Encoded authorization failure message: " + g.b64(600+g.r.IntN(600))
		}
	case "s3.amazonaws.com":
		c.errCode, c.errMsg = "AccessDenied", "Access Denied"
	case "iam.amazonaws.com", "sts.amazonaws.com":
		c.errCode = "AccessDenied"
		c.errMsg = "User: " + who + " is not authorized to perform: " + act + " on resource: " + res + " because no identity-based policy allows the " + act + " action"
	case "eks.amazonaws.com":
		c.errCode = "AccessDeniedException"
		if g.chance(0.2) {
			c.errCode = "AccessDenied"
		}
		c.errMsg = "User: " + who + " is not authorized to perform: " + act + " on resource: " + res
	default:
		c.errCode = "AccessDeniedException"
		c.errMsg = "User: " + who + " is not authorized to perform: " + act + " on resource: " + res + " because no identity-based policy allows the " + act + " action"
	}
}

// fail turns the call into one that failed with an error other than a
// denial.
func (g *fileGen) fail(c *call) {
	c.resp = nil
	switch c.t.source {
	case "ec2.amazonaws.com":
		if c.t.name == "DescribeInstances" {
			c.errCode, c.errMsg = "Client.InvalidInstanceID.NotFound", "The instance ID '"+pick(g.r, g.acct.instances)+"' does not exist"
		} else {
			c.errCode, c.errMsg = "Client.RequestLimitExceeded", "Request limit exceeded."
		}
	case "s3.amazonaws.com":
		switch c.t.name {
		case "GetBucketPolicy":
			c.errCode, c.errMsg = "NoSuchBucketPolicy", "The bucket policy does not exist"
		case "GetBucketTagging":
			c.errCode, c.errMsg = "NoSuchTagSet", "The TagSet does not exist"
		default:
			c.errCode, c.errMsg = "NoSuchKey", "The specified key does not exist."
		}
	case "iam.amazonaws.com":
		c.errCode, c.errMsg = "NoSuchEntity", "The role with name "+pick(g.r, g.acct.roles)+"-old cannot be found."
	case "eks.amazonaws.com":
		switch g.r.IntN(4) {
		case 0:
			c.errCode, c.errMsg = "ResourceInUseException", "Cluster already exists with name: "+pick(g.r, g.acct.clusters)
		case 1:
			c.errCode, c.errMsg = "ResourceNotFoundException", "No cluster found for name: "+pick(g.r, g.acct.clusters)+"-old."
		case 2:
			c.errCode, c.errMsg = "InvalidParameterException", "The provided parameters are not valid."
		default:
			c.errCode, c.errMsg = "InvalidRequestException", "Cluster is already at the desired configuration with endpointPrivateAccess: true , endpointPublicAccess: true, and Public Endpoint Restrictions: [0.0.0.0/0]"
		}
	case "dynamodb.amazonaws.com":
		c.errCode, c.errMsg = "ConditionalCheckFailedException", "The conditional request failed"
	default:
		c.errCode, c.errMsg = "ThrottlingException", "Rate exceeded"
	}
}

// Resource helpers.

func (g *fileGen) arn(service, resource string) string {
	return "arn:aws:" + service + ":" + g.region + ":" + g.acct.id + ":" + resource
}

func (g *fileGen) instance() string { return pick(g.r, g.acct.instances) }

func (g *fileGen) keyARN() string { return g.arn("kms", "key/"+pick(g.r, g.acct.keys)) }

func (g *fileGen) roleARN(name string) string { return "arn:aws:iam::" + g.acct.id + ":role/" + name }

func (g *fileGen) cluster() string { return pick(g.r, g.acct.clusters) }

func items(key string, vals ...string) obj {
	var xs []obj
	for _, v := range vals {
		xs = append(xs, obj{{key, v}})
	}
	return obj{{"items", xs}}
}

func filter(name string, vals ...string) obj {
	return obj{{"name", name}, {"valueSet", items("value", vals...)}}
}

// javaTime is how some services' responses format times.
func javaTime(t time.Time) string { return t.UTC().Format("Jan 2, 2006, 3:04:05 PM") }

func (g *fileGen) epochMillis() int64 { return g.at().UnixMilli() }

func (g *fileGen) s3Extra(out int) obj {
	return obj{{"SignatureVersion", "SigV4"}, {"CipherSuite", "TLS_AES_128_GCM_SHA256"}, {"bytesTransferredIn", 0},
		{"AuthenticationMethod", "AuthHeader"}, {"x-amz-id-2", g.b64(76)}, {"bytesTransferredOut", out}}
}

func (g *fileGen) bucketResource(bucket string) obj {
	return obj{{"accountId", g.acct.id}, {"type", "AWS::S3::Bucket"}, {"ARN", "arn:aws:s3:::" + bucket}}
}

func (g *fileGen) s3Bucket(c *call, param string) {
	b := pick(g.r, g.acct.buckets)
	req := obj{{"bucketName", b}, {"Host", b + ".s3." + g.region + ".amazonaws.com"}}
	if param != "" {
		req = append(req, kv{param, ""})
	}
	c.req = req
	c.extra = g.s3Extra(200 + g.r.IntN(2000))
	c.resources = []obj{g.bucketResource(b)}
	c.host = b + ".s3." + g.region + ".amazonaws.com"
	c.resource = "arn:aws:s3:::" + b
}

func (g *fileGen) s3Object(c *call, write bool) {
	b := pick(g.r, g.acct.buckets)
	var key string
	switch {
	case strings.HasPrefix(b, "acme-terraform-state"):
		key = pick(g.r, []string{"env/prod/eks/terraform.tfstate", "env/staging/eks/terraform.tfstate", "env/prod/network/terraform.tfstate", "global/iam/terraform.tfstate"})
	case strings.HasPrefix(b, "acme-logs"):
		key = fmt.Sprintf("alb/AWSLogs/%s/elasticloadbalancing/%s/%s/app.prod-alb.%s_%s_%s.log.gz", g.acct.id, g.region, g.stamp.Format("2006/01/02"), g.hex(16), g.stamp.Format("20060102T1504Z"), g.publicIP())
	default:
		key = fmt.Sprintf("%s/%s/%s.%s", pick(g.r, []string{"uploads", "exports", "images/original", "images/thumb", "reports/daily"}), g.stamp.Format("2006/01/02"), uuid(g.r), pick(g.r, []string{"json", "jpg", "parquet", "csv.gz"}))
	}
	host := b + ".s3." + g.region + ".amazonaws.com"
	req := obj{{"bucketName", b}, {"Host", host}, {"key", key}}
	if write {
		req = append(req, kv{"x-amz-server-side-encryption", "aws:kms"}, kv{"x-amz-server-side-encryption-aws-kms-key-id", g.keyARN()})
		c.resp = obj{{"x-amz-server-side-encryption-aws-kms-key-id", g.keyARN()}, {"x-amz-server-side-encryption", "aws:kms"},
			{"x-amz-version-id", g.b64(32)}, {"x-amz-server-side-encryption-bucket-key-enabled", false}}
	}
	c.req = req
	out := 0
	if !write && c.t.name == "GetObject" {
		out = 512 + g.r.IntN(4<<20)
	}
	ex := g.s3Extra(out)
	if write {
		ex[2].v = 1024 + g.r.IntN(1<<20)
	}
	c.extra = ex
	c.resources = []obj{
		{{"type", "AWS::S3::Object"}, {"ARN", "arn:aws:s3:::" + b + "/" + key}},
		g.bucketResource(b),
	}
	c.host = host
	c.resource = "arn:aws:s3:::" + b + "/" + key
}

func (g *fileGen) kmsContext() obj {
	switch g.r.IntN(5) {
	case 0:
		return obj{{"aws:lambda:FunctionArn", g.arn("lambda", "function:"+pick(g.r, g.acct.functions))}}
	case 1:
		return obj{{"aws:s3:arn", "arn:aws:s3:::" + pick(g.r, g.acct.buckets)}}
	case 2:
		return obj{{"aws:ebs:id", "vol-0" + g.hex(16)}}
	case 3:
		return obj{{"SecretARN", g.arn("secretsmanager", "secret:"+pick(g.r, g.acct.secrets)+"-"+randString(g.r, alnum, 6))}, {"SecretVersionId", uuid(g.r)}}
	}
	return obj{{"aws:cloudtrail:arn", "arn:aws:cloudtrail:us-east-1:" + g.acct.id + ":trail/org-trail"}, {"aws:s3:arn", "arn:aws:s3:::acme-logs-" + g.acct.id + "/AWSLogs/" + g.acct.id + "/CloudTrail/" + g.region + "/" + g.stamp.Format("2006/01/02") + "/"}}
}

func (g *fileGen) kmsResource(arn string) []obj {
	return []obj{{{"accountId", g.acct.id}, {"type", "AWS::KMS::Key"}, {"ARN", arn}}}
}

func (g *fileGen) credentials(roleArn, session string, hours int) (obj, obj) {
	roleName := roleArn[strings.LastIndexByte(roleArn, '/')+1:]
	creds := obj{{"accessKeyId", "ASIA" + randString(g.r, upperAlnum, 16)}, {"sessionToken", "IQoJb3JpZ2luX2VjE" + g.b64(600+g.r.IntN(400))},
		{"expiration", javaTime(g.stamp.Add(time.Duration(hours) * time.Hour))}}
	user := obj{{"assumedRoleId", "AROA" + randString(g.r, upperAlnum, 17) + ":" + session},
		{"arn", "arn:aws:sts::" + g.acct.id + ":assumed-role/" + roleName + "/" + session}}
	return creds, user
}

func (g *fileGen) metricQuery(i int) obj {
	ns, metric, dim, val := "AWS/EC2", "CPUUtilization", "InstanceId", g.instance()
	switch g.r.IntN(5) {
	case 1:
		ns, metric, dim, val = "AWS/Lambda", pick(g.r, []string{"Invocations", "Errors", "Duration", "Throttles"}), "FunctionName", pick(g.r, g.acct.functions)
	case 2:
		ns, metric, dim, val = "AWS/DynamoDB", pick(g.r, []string{"ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits", "ThrottledRequests"}), "TableName", pick(g.r, g.acct.tables)
	case 3:
		ns, metric, dim, val = "AWS/ApplicationELB", pick(g.r, []string{"RequestCount", "HTTPCode_Target_5XX_Count", "TargetResponseTime"}), "LoadBalancer", "app/prod-alb/"+g.hex(16)
	case 4:
		ns, metric, dim, val = "ContainerInsights", pick(g.r, []string{"node_cpu_utilization", "pod_memory_utilization", "cluster_failed_node_count"}), "ClusterName", g.cluster()
	}
	return obj{{"id", fmt.Sprintf("m%d", i)}, {"metricStat", obj{{"metric", obj{{"namespace", ns}, {"metricName", metric},
		{"dimensions", []obj{{{"name", dim}, {"value", val}}}}}}, {"period", 60}, {"stat", pick(g.r, []string{"Average", "Sum", "Maximum", "p99"})}}},
		{"returnData", true}}
}

func (g *fileGen) instanceItem(id string) obj {
	subnet, sg := pick(g.r, g.acct.subnets), pick(g.r, g.acct.secGroups)
	ip := g.privateIP()
	dns := "ip-" + strings.ReplaceAll(ip, ".", "-") + "." + g.region + ".compute.internal"
	az := g.region + string(rune('a'+g.r.IntN(3)))
	eni := "eni-0" + g.hex(16)
	itype := pick(g.r, []string{"m6i.large", "m6i.xlarge", "c6i.2xlarge", "r6i.large", "m7g.large", "t3.medium"})
	return obj{
		{"instanceId", id}, {"imageId", "ami-0" + g.hex(16)}, {"currentInstanceBootMode", "legacy-bios"},
		{"instanceState", obj{{"code", 0}, {"name", "pending"}}}, {"privateDnsName", dns}, {"amiLaunchIndex", 0},
		{"productCodes", obj{}}, {"instanceType", itype}, {"launchTime", g.epochMillis()},
		{"placement", obj{{"availabilityZoneId", "use1-az" + fmt.Sprint(1+g.r.IntN(6))}, {"availabilityZone", az}, {"tenancy", "default"}}},
		{"monitoring", obj{{"state", "disabled"}}}, {"subnetId", subnet}, {"vpcId", g.acct.vpc}, {"privateIpAddress", ip},
		{"stateReason", obj{{"code", "pending"}, {"message", "pending"}}}, {"architecture", "x86_64"}, {"rootDeviceType", "ebs"},
		{"rootDeviceName", "/dev/xvda"}, {"blockDeviceMapping", obj{}}, {"virtualizationType", "hvm"}, {"hypervisor", "xen"},
		{"tagSet", items2([][2]string{{"eks:cluster-name", g.cluster()}, {"karpenter.sh/nodepool", "default"}, {"Name", "prod-node"},
			{"aws:ec2launchtemplate:id", "lt-0" + g.hex(16)}, {"kubernetes.io/cluster/prod", "owned"}})},
		{"clientToken", uuid(g.r)},
		{"groupSet", obj{{"items", []obj{{{"groupId", sg}, {"groupName", "eks-cluster-sg-prod-" + g.hex(8)}}}}}},
		{"sourceDestCheck", true},
		{"networkInterfaceSet", obj{{"items", []obj{{
			{"networkInterfaceId", eni}, {"subnetId", subnet}, {"vpcId", g.acct.vpc}, {"ownerId", g.acct.id}, {"status", "in-use"},
			{"macAddress", fmt.Sprintf("0e:%s:%s:%s:%s:%s", g.hex(2), g.hex(2), g.hex(2), g.hex(2), g.hex(2))},
			{"privateIpAddress", ip}, {"privateDnsName", dns}, {"sourceDestCheck", true}, {"interfaceType", "interface"},
			{"groupSet", obj{{"items", []obj{{{"groupId", sg}, {"groupName", "eks-cluster-sg-prod-" + g.hex(8)}}}}}},
			{"attachment", obj{{"attachmentId", "eni-attach-0" + g.hex(16)}, {"deviceIndex", 0}, {"networkCardIndex", 0},
				{"status", "attaching"}, {"attachTime", g.epochMillis()}, {"deleteOnTermination", true}}},
			{"privateIpAddressesSet", obj{{"item", []obj{{{"privateIpAddress", ip}, {"privateDnsName", dns}, {"primary", true}}}}}},
			{"ipv6AddressesSet", obj{}}, {"tagSet", obj{}},
		}}}}},
		{"ebsOptimized", true}, {"enaSupport", true},
		{"cpuOptions", obj{{"coreCount", 1 + g.r.IntN(4)}, {"threadsPerCore", 2}}},
		{"capacityReservationSpecification", obj{{"capacityReservationPreference", "open"}}},
		{"enclaveOptions", obj{{"enabled", false}}},
		{"metadataOptions", obj{{"state", "pending"}, {"httpTokens", "required"}, {"httpPutResponseHopLimit", 2}, {"httpEndpoint", "enabled"},
			{"httpProtocolIpv4", "enabled"}, {"httpProtocolIpv6", "disabled"}, {"instanceMetadataTags", "disabled"}}},
		{"maintenanceOptions", obj{{"autoRecovery", "default"}}},
		{"privateDnsNameOptions", obj{{"hostnameType", "ip-name"}, {"enableResourceNameDnsARecord", false}, {"enableResourceNameDnsAAAARecord", false}}},
	}
}

func items2(tags [][2]string) obj {
	var xs []obj
	for _, t := range tags {
		xs = append(xs, obj{{"key", t[0]}, {"value", t[1]}})
	}
	return obj{{"items", xs}}
}

func init() {
	// EC2
	def("ec2.DescribeInstances", "r", func(g *fileGen, c *call) {
		if g.chance(0.5) {
			ids := make([]string, 1+g.r.IntN(3))
			for i := range ids {
				ids[i] = g.instance()
			}
			c.req = obj{{"instancesSet", items("instanceId", ids...)}, {"filterSet", obj{}}}
		} else {
			c.req = obj{{"instancesSet", obj{}}, {"filterSet", obj{{"items", []obj{
				filter("tag:karpenter.sh/nodepool", "default", "gpu"),
				filter("tag:kubernetes.io/cluster/"+g.cluster(), "owned"),
				filter("instance-state-name", "pending", "running", "stopping", "stopped", "shutting-down"),
			}}}}, {"maxResults", 500}}
		}
	})
	def("ec2.DescribeInstanceStatus", "r", func(g *fileGen, c *call) {
		c.req = obj{{"instancesSet", items("instanceId", g.instance(), g.instance())}, {"filterSet", obj{}}, {"includeAllInstances", true}}
	})
	def("ec2.DescribeVolumes", "r", func(g *fileGen, c *call) {
		c.req = obj{{"volumeSet", obj{}}, {"filterSet", obj{{"items", []obj{filter("attachment.instance-id", g.instance())}}}}}
	})
	def("ec2.DescribeSecurityGroups", "r", func(g *fileGen, c *call) {
		c.req = obj{{"securityGroupSet", obj{}}, {"securityGroupIdSet", items("groupId", pick(g.r, g.acct.secGroups))}, {"filterSet", obj{}}}
	})
	def("ec2.DescribeSubnets", "r", func(g *fileGen, c *call) {
		c.req = obj{{"subnetSet", obj{}}, {"filterSet", obj{{"items", []obj{filter("vpc-id", g.acct.vpc), filter("tag:kubernetes.io/role/internal-elb", "1")}}}}}
	})
	def("ec2.DescribeNetworkInterfaces", "r", func(g *fileGen, c *call) {
		c.req = obj{{"networkInterfaceIdSet", obj{}}, {"filterSet", obj{{"items", []obj{filter("attachment.instance-id", g.instance()), filter("tag:cluster.k8s.amazonaws.com/name", g.cluster())}}}}}
	})
	def("ec2.DescribeTags", "r", func(g *fileGen, c *call) {
		c.req = obj{{"filterSet", obj{{"items", []obj{filter("resource-id", g.instance())}}}}}
	})
	def("ec2.DescribeRegions", "r", func(g *fileGen, c *call) {
		c.req = obj{{"regionSet", obj{}}, {"allRegions", false}}
	})
	def("ec2.DescribeAvailabilityZones", "r", func(g *fileGen, c *call) {
		c.req = obj{{"availabilityZoneSet", obj{}}, {"availabilityZoneIdSet", obj{}}, {"allAvailabilityZones", false}}
	})
	def("ec2.DescribeImages", "r", func(g *fileGen, c *call) {
		c.req = obj{{"executableBySet", obj{}}, {"imagesSet", items("imageId", "ami-0"+g.hex(16))}, {"ownersSet", obj{}},
			{"includeDeprecated", false}, {"includeDisabled", false}, {"filterSet", obj{}}}
	})
	def("ec2.DescribeInstanceTypes", "r", func(g *fileGen, c *call) {
		c.req = obj{{"instanceTypeSet", obj{}}, {"filterSet", obj{{"items", []obj{filter("supported-virtualization-type", "hvm"), filter("processor-info.supported-architecture", "x86_64", "arm64")}}}}, {"maxResults", 100}}
	})
	def("ec2.DescribeLaunchTemplates", "r", func(g *fileGen, c *call) {
		c.req = obj{{"DescribeLaunchTemplatesRequest", obj{{"LaunchTemplateName", obj{{"tag", 1}, {"content", "karpenter.k8s.aws/" + g.hex(20)}}}}}}
	})
	def("ec2.DescribeSpotPriceHistory", "r", func(g *fileGen, c *call) {
		c.req = obj{{"startTime", g.epochMillis()}, {"instanceTypeSet", items("instanceType", "m6i.large", "m6i.xlarge", "c6i.large", "r6i.large")},
			{"productDescriptionSet", items("productDescription", "Linux/UNIX")}, {"filterSet", obj{}}, {"availabilityZone", g.region + "a"}}
	})
	def("ec2.CreateTags", "", func(g *fileGen, c *call) {
		c.req = obj{{"resourcesSet", items("resourceId", g.instance())}, {"tagSet", items2([][2]string{{"Name", "prod-node"}, {"karpenter.sh/nodeclaim", "default-" + randString(g.r, "abcdefghijklmnopqrstuvwxyz0123456789", 5)}})}}
		c.resp = obj{{"requestId", uuid(g.r)}, {"_return", true}}
	})
	def("ec2.AssignPrivateIpAddresses", "", func(g *fileGen, c *call) {
		eni := "eni-0" + g.hex(16)
		n := 1 + g.r.IntN(8)
		c.req = obj{{"networkInterfaceId", eni}, {"privateIpAddressesSet", obj{}}, {"secondaryPrivateIpAddressCount", n}}
		var ips []obj
		for range n {
			ips = append(ips, obj{{"privateIpAddress", g.privateIP()}})
		}
		c.resp = obj{{"requestId", uuid(g.r)}, {"networkInterfaceId", eni}, {"assignedPrivateIpAddressesSet", obj{{"assignedPrivateIpAddressSetType", ips}}}, {"_return", true}}
	})
	def("ec2.RunInstances", "", func(g *fileGen, c *call) {
		n := 1 + g.r.IntN(3)
		var ids []obj
		for range n {
			ids = append(ids, g.instanceItem("i-0"+g.hex(16)))
		}
		c.req = obj{
			{"instancesSet", obj{{"items", []obj{{{"imageId", "ami-0" + g.hex(16)}, {"minCount", n}, {"maxCount", n}}}}}},
			{"instanceType", "m6i.large"}, {"blockDeviceMapping", obj{}}, {"monitoring", obj{{"enabled", false}}},
			{"disableApiTermination", false}, {"disableApiStop", false}, {"clientToken", uuid(g.r)},
			{"launchTemplate", obj{{"launchTemplateId", "lt-0" + g.hex(16)}, {"version", "1"}}},
			{"tagSpecificationSet", obj{{"items", []obj{{{"resourceType", "instance"}, {"tags", []obj{{{"key", "aws:autoscaling:groupName"}, {"value", "eks-prod-ng-" + uuid(g.r)}}}}}}}}},
		}
		c.resp = obj{{"requestId", uuid(g.r)}, {"reservationId", "r-0" + g.hex(16)}, {"ownerId", g.acct.id}, {"groupSet", obj{}},
			{"instancesSet", obj{{"items", ids}}}, {"requesterId", "940372691376"}}
	})

	// S3
	def("s3.ListBuckets", "r", func(g *fileGen, c *call) {
		c.req = obj{{"Host", "s3." + g.region + ".amazonaws.com"}}
		c.extra = g.s3Extra(2000 + g.r.IntN(20000))
		c.host = "s3." + g.region + ".amazonaws.com"
	})
	for _, n := range []struct{ name, param string }{
		{"GetBucketAcl", "acl"}, {"GetBucketLocation", "location"}, {"GetBucketPolicy", "policy"},
		{"GetBucketVersioning", "versioning"}, {"GetBucketTagging", "tagging"},
	} {
		def("s3."+n.name, "r", func(g *fileGen, c *call) { g.s3Bucket(c, n.param) })
	}
	def("s3.GetObject", "rd", func(g *fileGen, c *call) { g.s3Object(c, false) })
	def("s3.HeadObject", "rd", func(g *fileGen, c *call) { g.s3Object(c, false) })
	def("s3.PutObject", "d", func(g *fileGen, c *call) { g.s3Object(c, true) })

	// STS
	def("sts.GetCallerIdentity", "r", func(g *fileGen, c *call) {})
	def("sts.AssumeRole", "", func(g *fileGen, c *call) {
		var role, session string
		if c.p.kind == "AWSService" {
			switch c.p.invokedBy {
			case "lambda.amazonaws.com":
				role, session = "service-role/orders-processor-role", pick(g.r, g.acct.functions)
			case "ec2.amazonaws.com":
				role, session = "eks-node-role", g.instance()
			default:
				role, session = "eks-cluster-role", "aws-go-sdk-"+fmt.Sprint(g.epochMillis()*1000000)
			}
		} else {
			role = pick(g.r, []string{"OrganizationAccountAccessRole", "terraform-plan", "DatadogIntegrationRole"})
			session = pick(g.r, []string{"alice", "terraform-" + fmt.Sprint(g.epochMillis()), "botocore-session-" + fmt.Sprint(g.epochMillis()/1000)})
			c.shared = g.chance(0.3)
		}
		arn := g.roleARN(role)
		req := obj{{"roleArn", arn}, {"roleSessionName", session}}
		if g.chance(0.5) {
			req = append(req, kv{"durationSeconds", 3600})
		}
		if role == "DatadogIntegrationRole" {
			req = append(req, kv{"externalId", g.hex(32)})
		}
		c.req = req
		creds, user := g.credentials(arn, session, 1)
		c.resp = obj{{"credentials", creds}, {"assumedRoleUser", user}}
		c.resources = []obj{{{"accountId", g.acct.id}, {"type", "AWS::IAM::Role"}, {"ARN", arn}}}
		c.resource = arn
	})
	def("sts.AssumeRoleWithWebIdentity", "", func(g *fileGen, c *call) {
		arn := g.roleARN("KarpenterControllerRole-prod")
		session := fmt.Sprint(1740000000000000000 + g.r.Int64N(1e17))
		c.req = obj{{"roleArn", arn}, {"roleSessionName", session}, {"durationSeconds", 86400}}
		creds, user := g.credentials(arn, session, 24)
		c.resp = obj{{"credentials", creds}, {"subjectFromWebIdentityToken", c.p.name}, {"assumedRoleUser", user},
			{"provider", c.p.webIdP}, {"audience", "sts.amazonaws.com"}}
		c.extra = obj{{"identityProviderConnectionVerificationMethod", "IAMTrustStore"}}
		c.resources = []obj{{{"accountId", g.acct.id}, {"type", "AWS::IAM::Role"}, {"ARN", arn}}}
		c.resource = arn
	})

	// IAM (global)
	roleReq := func(g *fileGen, c *call) {
		r := pick(g.r, g.acct.roles)
		c.req = obj{{"roleName", r}}
		c.resource = g.roleARN(r)
	}
	for _, n := range []string{"GetRole", "ListRolePolicies", "ListAttachedRolePolicies", "ListInstanceProfilesForRole"} {
		def("iam."+n, "rg", roleReq)
	}
	def("iam.ListRoles", "rg", func(g *fileGen, c *call) {
		if g.chance(0.5) {
			c.req = obj{{"maxItems", 1000}}
		}
	})
	policy := func(g *fileGen) string {
		return pick(g.r, []string{"arn:aws:iam::aws:policy/AmazonEKSClusterPolicy", "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
			"arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly", "arn:aws:iam::" + g.acct.id + ":policy/KarpenterControllerPolicy-prod",
			"arn:aws:iam::" + g.acct.id + ":policy/orders-processor-access"})
	}
	def("iam.GetPolicy", "rg", func(g *fileGen, c *call) { c.req = obj{{"policyArn", policy(g)}} })
	def("iam.GetPolicyVersion", "rg", func(g *fileGen, c *call) {
		c.req = obj{{"policyArn", policy(g)}, {"versionId", fmt.Sprintf("v%d", 1+g.r.IntN(9))}}
	})
	def("iam.GetUser", "rg", func(g *fileGen, c *call) { c.req = obj{{"userName", pick(g.r, g.acct.users)}} })
	def("iam.ListAccessKeys", "rg", func(g *fileGen, c *call) { c.req = obj{{"userName", pick(g.r, g.acct.users)}} })
	def("iam.GetAccountSummary", "rg", func(g *fileGen, c *call) {})
	def("iam.ListAccountAliases", "rg", func(g *fileGen, c *call) {})
	def("iam.GetInstanceProfile", "rg", func(g *fileGen, c *call) {
		c.req = obj{{"instanceProfileName", "prod_" + fmt.Sprint(g.r.Uint64()%1e19)}}
	})
	def("iam.GetOpenIDConnectProvider", "rg", func(g *fileGen, c *call) {
		c.req = obj{{"openIDConnectProviderArn", "arn:aws:iam::" + g.acct.id + ":oidc-provider/oidc.eks." + g.region + ".amazonaws.com/id/" + g.acct.oidc}}
	})

	// KMS
	def("kms.Decrypt", "r", func(g *fileGen, c *call) {
		k := g.keyARN()
		c.req = obj{{"encryptionContext", g.kmsContext()}, {"encryptionAlgorithm", "SYMMETRIC_DEFAULT"}}
		c.resources = g.kmsResource(k)
		c.resource = k
	})
	def("kms.GenerateDataKey", "r", func(g *fileGen, c *call) {
		k := g.keyARN()
		c.req = obj{{"keyId", k}, {"encryptionContext", g.kmsContext()}, {"keySpec", "AES_256"}}
		c.resources = g.kmsResource(k)
		c.resource = k
	})
	def("kms.DescribeKey", "r", func(g *fileGen, c *call) {
		k := g.keyARN()
		c.req = obj{{"keyId", k}}
		c.resources = g.kmsResource(k)
		c.resource = k
	})
	def("kms.ListAliases", "r", func(g *fileGen, c *call) { c.req = obj{{"limit", 100}} })

	// Lambda
	fn := func(g *fileGen, c *call) {
		f := pick(g.r, g.acct.functions)
		c.req = obj{{"functionName", f}}
		c.resource = g.arn("lambda", "function:"+f)
	}
	def("lambda.GetFunction20150331v2", "r", fn)
	def("lambda.GetFunctionConfiguration20150331v2", "r", fn)
	def("lambda.ListFunctions20150331", "r", func(g *fileGen, c *call) {})
	def("lambda.ListTags20170331", "r", func(g *fileGen, c *call) {
		c.req = obj{{"resource", g.arn("lambda", "function:"+pick(g.r, g.acct.functions))}}
	})
	def("lambda.Invoke", "d", func(g *fileGen, c *call) {
		arn := g.arn("lambda", "function:"+pick(g.r, g.acct.functions))
		c.req = obj{{"functionName", arn}, {"invocationType", "Event"}}
		c.extra = obj{{"functionVersion", arn + ":$LATEST"}}
		c.resources = []obj{{{"accountId", g.acct.id}, {"type", "AWS::Lambda::Function"}, {"ARN", arn}}}
		c.resource = arn
	})

	// DynamoDB
	table := func(g *fileGen, c *call) string {
		t := pick(g.r, g.acct.tables)
		if strings.HasPrefix(c.p.agents[0], "APN/") { // Terraform's state lock
			t = "terraform-locks"
		}
		c.resource = g.arn("dynamodb", "table/"+t)
		return t
	}
	def("dynamodb.DescribeTable", "r", func(g *fileGen, c *call) { c.req = obj{{"tableName", table(g, c)}} })
	def("dynamodb.ListTables", "r", func(g *fileGen, c *call) { c.req = obj{{"limit", 100}} })
	dataKey := func(g *fileGen, t string) obj {
		if t == "terraform-locks" {
			return obj{{"LockID", "acme-terraform-state-" + g.acct.id + "/env/prod/eks/terraform.tfstate-md5"}}
		}
		return obj{{"pk", strings.ToUpper(t[:1]) + "#" + g.hex(12)}, {"sk", "META#" + fmt.Sprint(g.r.IntN(1000))}}
	}
	itemRes := func(g *fileGen, c *call) []obj {
		return []obj{{{"accountId", g.acct.id}, {"type", "AWS::DynamoDB::Table"}, {"ARN", c.resource}}}
	}
	def("dynamodb.GetItem", "rd", func(g *fileGen, c *call) {
		t := table(g, c)
		c.req = obj{{"tableName", t}, {"key", dataKey(g, t)}, {"consistentRead", t == "terraform-locks"}}
		c.resources = itemRes(g, c)
	})
	def("dynamodb.Query", "rd", func(g *fileGen, c *call) {
		t := table(g, c)
		c.req = obj{{"tableName", t}, {"indexName", "gsi1"}, {"limit", 50}, {"consistentRead", false},
			{"keyConditionExpression", "gsi1pk = :pk AND begins_with(gsi1sk, :sk)"}, {"scanIndexForward", false}}
		c.resources = itemRes(g, c)
	})
	def("dynamodb.PutItem", "d", func(g *fileGen, c *call) {
		t := table(g, c)
		c.req = obj{{"tableName", t}, {"key", dataKey(g, t)}, {"conditionExpression", "attribute_not_exists(pk)"}}
		c.resources = itemRes(g, c)
	})
	def("dynamodb.UpdateItem", "d", func(g *fileGen, c *call) {
		t := table(g, c)
		c.req = obj{{"tableName", t}, {"key", dataKey(g, t)}, {"updateExpression", "SET #s = :s, updatedAt = :now"}, {"returnValues", "NONE"}}
		c.resources = itemRes(g, c)
	})

	// CloudWatch
	def("monitoring.GetMetricData", "r", func(g *fileGen, c *call) {
		n := 1 + g.r.IntN(12)
		qs := make([]obj, n)
		for i := range qs {
			qs[i] = g.metricQuery(i)
		}
		c.req = obj{{"metricDataQueries", qs}, {"startTime", javaTime(g.stamp.Add(-20 * time.Minute))}, {"endTime", javaTime(g.stamp)}}
	})
	def("monitoring.GetMetricStatistics", "r", func(g *fileGen, c *call) {
		q := g.metricQuery(0)[1].v.(obj)[0].v.(obj)
		c.req = obj{{"namespace", q[0].v}, {"metricName", q[1].v}, {"dimensions", q[2].v}, {"startTime", javaTime(g.stamp.Add(-3 * time.Hour))},
			{"endTime", javaTime(g.stamp)}, {"period", 300}, {"statistics", []string{"Average", "Maximum"}}}
	})
	def("monitoring.ListMetrics", "r", func(g *fileGen, c *call) {
		c.req = obj{{"namespace", pick(g.r, []string{"AWS/EC2", "AWS/Lambda", "AWS/DynamoDB", "AWS/ApplicationELB", "ContainerInsights"})}}
	})
	def("monitoring.DescribeAlarms", "r", func(g *fileGen, c *call) {
		c.req = obj{{"maxRecords", 100}, {"alarmTypes", []string{"CompositeAlarm", "MetricAlarm"}}}
	})

	// CloudWatch Logs
	def("logs.DescribeLogGroups", "r", func(g *fileGen, c *call) {
		if g.chance(0.5) {
			c.req = obj{{"logGroupNamePrefix", "/aws/"}, {"limit", 50}}
		}
	})
	def("logs.DescribeLogStreams", "r", func(g *fileGen, c *call) {
		c.req = obj{{"logGroupName", pick(g.r, g.acct.logGroups)}, {"orderBy", "LastEventTime"}, {"descending", true}, {"limit", 50}}
	})
	def("logs.FilterLogEvents", "r", func(g *fileGen, c *call) {
		c.req = obj{{"logGroupName", pick(g.r, g.acct.logGroups)}, {"startTime", g.stamp.Add(-time.Hour).UnixMilli()}, {"endTime", g.stamp.UnixMilli()},
			{"filterPattern", pick(g.r, []string{"ERROR", "\"status=500\"", "{ $.level = \"error\" }", "Task timed out"})}, {"interleaved", true}}
	})
	def("logs.GetLogEvents", "r", func(g *fileGen, c *call) {
		c.req = obj{{"logGroupName", pick(g.r, g.acct.logGroups)}, {"logStreamName", g.stamp.Format("2006/01/02") + "/[$LATEST]" + g.hex(32)}, {"startFromHead", false}}
	})
	def("logs.CreateLogStream", "", func(g *fileGen, c *call) {
		c.req = obj{{"logGroupName", "/aws/containerinsights/" + g.cluster() + "/application"}, {"logStreamName", "fluent-bit-" + g.hex(10)}}
	})

	// EKS (read-only; changes are in eks.go)
	clusterReq := func(g *fileGen, c *call) { c.req = obj{{"name", g.cluster()}} }
	for _, n := range []string{"DescribeCluster", "ListNodegroups", "ListAddons", "ListAccessEntries", "ListUpdates", "ListFargateProfiles", "ListPodIdentityAssociations"} {
		def("eks."+n, "r", clusterReq)
	}
	def("eks.ListClusters", "r", func(g *fileGen, c *call) { c.req = obj{{"maxResults", "100"}} })
	def("eks.DescribeNodegroup", "r", func(g *fileGen, c *call) {
		c.req = obj{{"name", g.cluster()}, {"nodegroupName", pick(g.r, []string{"general", "system", "gpu-spot"})}}
	})
	def("eks.DescribeAddon", "r", func(g *fileGen, c *call) {
		c.req = obj{{"name", g.cluster()}, {"addonName", pick(g.r, eksAddons)}}
	})
	def("eks.DescribeAddonVersions", "r", func(g *fileGen, c *call) {
		c.req = obj{{"kubernetesVersion", "1.31"}, {"addonName", pick(g.r, eksAddons)}}
	})

	// ECR
	def("ecr.GetAuthorizationToken", "r", func(g *fileGen, c *call) {
		if g.chance(0.3) {
			c.req = obj{{"registryIds", []string{"602401143452"}}}
		}
	})
	repo := func(g *fileGen) string {
		return pick(g.r, []string{"api", "worker", "frontend", "eks/coredns", "eks/kube-proxy", "amazon-k8s-cni"})
	}
	def("ecr.BatchGetImage", "r", func(g *fileGen, c *call) {
		r := repo(g)
		c.req = obj{{"repositoryName", r}, {"registryId", g.acct.id}, {"imageIds", []obj{{{"imageTag", "v1." + fmt.Sprint(g.r.IntN(40)) + "." + fmt.Sprint(g.r.IntN(10))}}}},
			{"acceptedMediaTypes", []string{"application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json"}}}
		c.resources = []obj{{{"accountId", g.acct.id}, {"ARN", g.arn("ecr", "repository/"+r)}}}
	})
	def("ecr.GetDownloadUrlForLayer", "r", func(g *fileGen, c *call) {
		r := repo(g)
		c.req = obj{{"repositoryName", r}, {"registryId", g.acct.id}, {"layerDigest", "sha256:" + g.hex(64)}}
		c.resources = []obj{{{"accountId", g.acct.id}, {"ARN", g.arn("ecr", "repository/"+r)}}}
	})
	def("ecr.DescribeRepositories", "r", func(g *fileGen, c *call) {})

	// SSM
	def("ssm.GetParameter", "r", func(g *fileGen, c *call) {
		c.req = obj{{"name", pick(g.r, g.acct.params)}, {"withDecryption", true}}
	})
	def("ssm.UpdateInstanceInformation", "", func(g *fileGen, c *call) {
		ip := g.privateIP()
		c.req = obj{{"instanceId", c.s.name}, {"agentVersion", "3.3.1142.0"}, {"agentStatus", "Active"}, {"platformType", "Linux"},
			{"platformName", "Amazon Linux"}, {"platformVersion", "2023"}, {"iPAddress", ip},
			{"computerName", "ip-" + strings.ReplaceAll(ip, ".", "-") + "." + g.region + ".compute.internal"}, {"agentName", "amazon-ssm-agent"},
			{"availabilityZone", g.region + "b"}, {"availabilityZoneId", "use1-az2"}, {"sSMConnectionChannel", "ssmmessages"}}
	})
	def("ssm.ListInstanceAssociations", "r", func(g *fileGen, c *call) {
		c.req = obj{{"instanceId", c.s.name}, {"maxResults", 20}}
	})

	// Secrets Manager
	secret := func(g *fileGen, c *call) { c.req = obj{{"secretId", pick(g.r, g.acct.secrets)}} }
	def("secretsmanager.GetSecretValue", "r", secret)
	def("secretsmanager.DescribeSecret", "r", secret)
	def("secretsmanager.ListSecrets", "r", func(g *fileGen, c *call) {})

	// Load balancing, Auto Scaling, CloudFormation, tagging
	tg := func(g *fileGen) string {
		return g.arn("elasticloadbalancing", "targetgroup/k8s-"+pick(g.r, []string{"default-api", "default-web", "ingress-nginx"})+"-"+g.hex(10)+"/"+g.hex(16))
	}
	def("elasticloadbalancing.DescribeTargetHealth", "r", func(g *fileGen, c *call) { c.req = obj{{"targetGroupArn", tg(g)}} })
	def("elasticloadbalancing.DescribeTargetGroups", "r", func(g *fileGen, c *call) { c.req = obj{{"targetGroupArns", []string{tg(g)}}} })
	def("elasticloadbalancing.DescribeLoadBalancers", "r", func(g *fileGen, c *call) { c.req = obj{{"pageSize", 400}} })
	def("autoscaling.DescribeAutoScalingGroups", "r", func(g *fileGen, c *call) { c.req = obj{{"maxRecords", 100}} })
	def("cloudformation.DescribeStacks", "r", func(g *fileGen, c *call) {
		c.req = obj{{"stackName", pick(g.r, []string{"eksctl-prod-cluster", "eksctl-prod-nodegroup-general", "network-baseline", "StackSet-guardrails-" + uuid(g.r)})}}
	})
	def("tagging.GetResources", "r", func(g *fileGen, c *call) {
		c.req = obj{{"resourcesPerPage", 100}, {"resourceTypeFilters", []string{"ec2:instance", "elasticloadbalancing:loadbalancer", "lambda:function"}}}
	})

	for _, ps := range [][]weighted[string]{humanProfile, consoleProfile, terraformProfile, nodeProfile, lambdaProfile, karpenterProfile,
		monitoringProfile, backupProfile, rootProfile, serviceLinkedProfile, awsServiceProfile} {
		for _, p := range ps {
			if templates[p.v] == nil {
				panic("bench: profile names an undefined template: " + p.v)
			}
		}
	}
}
