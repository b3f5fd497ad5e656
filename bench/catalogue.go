package bench

import "fmt"

// Configuration changes of the services the rest of the catalogue watches
// (IAM, VPC, S3, KMS, CloudTrail, Config, RDS, ECS, Route 53, GuardDuty,
// Security Hub, Lambda, SQS), with request shapes as CloudTrail records
// them (EC2 lists as {"items": [...]}, policies as JSON strings, S3's Host
// and bucketPolicy object), so the benchmark decodes and judges them too.
// They are made by the people and tools that change things.
var catalogueOps []weighted[*tmpl]

func init() {
	add := func(w int, key, flags string, build func(g *fileGen, c *call)) {
		catalogueOps = append(catalogueOps, weighted[*tmpl]{w, def(key, flags, build)})
	}
	policy := func(action, resource string) string {
		return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":%q,"Resource":%q}]}`, action, resource)
	}
	add(4, "iam.AttachRolePolicy", "g", func(g *fileGen, c *call) {
		c.req = obj{{"roleName", pick(g.r, []string{"app-runtime", "ci-deploy", "data-reader"})},
			{"policyArn", pick(g.r, []string{"arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess", "arn:aws:iam::aws:policy/AdministratorAccess"})}}
	})
	add(3, "iam.PutRolePolicy", "g", func(g *fileGen, c *call) {
		c.req = obj{{"roleName", "app-runtime"}, {"policyName", "inline-" + g.hex(4)}, {"policyDocument", policy(pick(g.r, []string{"s3:GetObject", "sqs:SendMessage", "*"}), "*")}}
	})
	add(2, "iam.CreateAccessKey", "g", func(g *fileGen, c *call) {
		c.req = obj{{"userName", pick(g.r, []string{"ci-bot", "bob"})}}
		c.resp = obj{{"accessKey", obj{{"accessKeyId", "AKIA" + randString(g.r, upperAlnum, 16)}, {"status", "Active"}, {"userName", "ci-bot"}, {"createDate", javaTime(g.at())}}}}
	})
	add(5, "ec2.AuthorizeSecurityGroupIngress", "", func(g *fileGen, c *call) {
		port := pick(g.r, []int{22, 443, 5432, 3389})
		c.req = obj{{"groupId", pick(g.r, g.acct.secGroups)}, {"ipPermissions", obj{{"items", []obj{{{"ipProtocol", "tcp"}, {"fromPort", port}, {"toPort", port},
			{"groups", obj{}}, {"ipRanges", items("cidrIp", pick(g.r, []string{"10.0.0.0/16", "0.0.0.0/0", "198.51.100.0/24"}))}, {"ipv6Ranges", obj{}}, {"prefixListIds", obj{}}}}}}}}
		c.resp = obj{{"requestId", uuid(g.r)}, {"_return", true}}
	})
	add(3, "ec2.CreateRoute", "", func(g *fileGen, c *call) {
		c.req = obj{{"routeTableId", "rtb-0" + g.hex(16)}, {"destinationCidrBlock", "0.0.0.0/0"}, {"natGatewayId", "nat-0" + g.hex(16)}}
		c.resp = obj{{"requestId", uuid(g.r)}, {"_return", true}}
	})
	add(1, "ec2.ModifySnapshotAttribute", "", func(g *fileGen, c *call) {
		c.req = obj{{"snapshotId", "snap-0" + g.hex(16)}, {"attributeType", "CREATE_VOLUME_PERMISSION"},
			{"createVolumePermission", obj{{"add", items("userId", "999988887777")}}}}
		c.resp = obj{{"requestId", uuid(g.r)}, {"_return", true}}
	})
	add(3, "s3.PutBucketPolicy", "", func(g *fileGen, c *call) {
		b := "app-data-" + g.acct.id
		c.req = obj{{"bucketName", b}, {"Host", b + ".s3." + g.region + ".amazonaws.com"}, {"policy", []string{""}},
			{"bucketPolicy", obj{{"Version", "2012-10-17"}, {"Statement", []obj{{{"Effect", "Allow"}, {"Principal", obj{{"AWS", g.roleARN("data-reader")}}},
				{"Action", []string{"s3:GetObject"}}, {"Resource", []string{"arn:aws:s3:::" + b + "/*"}}}}}}}}
		c.extra = g.s3Extra(0)
	})
	add(2, "s3.PutBucketVersioning", "", func(g *fileGen, c *call) {
		b := "app-data-" + g.acct.id
		c.req = obj{{"bucketName", b}, {"Host", b + ".s3." + g.region + ".amazonaws.com"}, {"versioning", ""},
			{"VersioningConfiguration", obj{{"Status", pick(g.r, []string{"Enabled", "Suspended"})}, {"xmlns", "http://s3.amazonaws.com/doc/2006-03-01/"}}}}
		c.extra = g.s3Extra(0)
	})
	add(1, "kms.ScheduleKeyDeletion", "", func(g *fileGen, c *call) {
		id := g.hex(8) + "-" + g.hex(4) + "-" + g.hex(4) + "-" + g.hex(4) + "-" + g.hex(12)
		c.req = obj{{"keyId", id}, {"pendingWindowInDays", 30}}
		c.resp = obj{{"keyId", g.arn("kms", "key/"+id)}, {"keyState", "PendingDeletion"}, {"deletionDate", javaTime(g.at().AddDate(0, 0, 30))}}
	})
	add(1, "cloudtrail.PutEventSelectors", "", func(g *fileGen, c *call) {
		sel := []obj{{{"readWriteType", "All"}, {"includeManagementEvents", true}, {"dataResources", []obj{}}, {"excludeManagementEventSources", []string{}}}}
		c.req = obj{{"trailName", "management"}, {"eventSelectors", sel}}
		c.resp = obj{{"trailARN", g.arn("cloudtrail", "trail/management")}, {"eventSelectors", sel}}
	})
	add(1, "config.PutConfigurationRecorder", "", func(g *fileGen, c *call) {
		c.req = obj{{"configurationRecorder", obj{{"name", "default"}, {"roleARN", g.roleARN("aws-config")}}}}
	})
	add(2, "rds.ModifyDBInstance", "", func(g *fileGen, c *call) {
		c.req = obj{{"dBInstanceIdentifier", "orders-db"}, {"applyImmediately", true}, {"allocatedStorage", 100}}
	})
	add(2, "ecs.RegisterTaskDefinition", "", func(g *fileGen, c *call) {
		c.req = obj{{"family", "web"}, {"networkMode", "awsvpc"}, {"containerDefinitions", []obj{{{"name", "web"}, {"image", "nginx:1.27"}, {"essential", true}}}}}
	})
	add(2, "route53.ChangeResourceRecordSets", "g", func(g *fileGen, c *call) {
		c.req = obj{{"hostedZoneId", "Z0" + randString(g.r, upperAlnum, 12)}, {"changeBatch", obj{{"changes", []obj{{{"action", "UPSERT"},
			{"resourceRecordSet", obj{{"name", "api.example.com"}, {"type", "A"}, {"tTL", 60}, {"resourceRecords", []obj{{{"value", g.privateIP()}}}}}}}}}}}}
	})
	add(1, "guardduty.UpdateDetector", "", func(g *fileGen, c *call) {
		c.req = obj{{"detectorId", g.hex(32)}, {"findingPublishingFrequency", "FIFTEEN_MINUTES"}}
	})
	add(1, "securityhub.BatchUpdateFindings", "", func(g *fileGen, c *call) {
		c.req = obj{{"FindingIdentifiers", []obj{{{"Id", uuid(g.r)}, {"ProductArn", "arn:aws:securityhub:" + g.region + "::product/aws/guardduty"}}}}, {"Workflow", obj{{"Status", "RESOLVED"}}}}
	})
	add(1, "lambda.AddPermission20150331v2", "", func(g *fileGen, c *call) {
		c.req = obj{{"functionName", "thumbnailer"}, {"statementId", "s3-" + g.hex(6)}, {"action", "lambda:InvokeFunction"}, {"principal", "s3.amazonaws.com"}}
	})
	add(1, "sqs.SetQueueAttributes", "", func(g *fileGen, c *call) {
		c.req = obj{{"queueUrl", "https://sqs." + g.region + ".amazonaws.com/" + g.acct.id + "/jobs"}, {"attributes", obj{{"VisibilityTimeout", "120"}}}}
	})
}

// catalogueChange returns a configuration change of a service other than
// EKS.
func (g *fileGen) catalogueChange() *call {
	p := pickW(g.r, g.acct.changers)
	var t *tmpl
	for range 8 {
		t = pickW(g.r, catalogueOps)
		if !t.global || g.region == "us-east-1" {
			break
		}
	}
	if t.global && g.region != "us-east-1" {
		t = templates["ec2.AuthorizeSecurityGroupIngress"]
	}
	c := &call{t: t, p: p, s: g.sessionOf(p)}
	t.build(g, c)
	return c
}
