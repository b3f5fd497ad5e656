package bench

import (
	"fmt"
	"strings"
)

// eksOp is an EKS configuration change and the embedded rule that reports
// it when it succeeds.
type eksOp struct {
	name, rule string
	build      func(g *fileGen, c *call, cluster string)
}

var eksAddons = []string{"vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver", "eks-pod-identity-agent", "amazon-cloudwatch-observability"}

// Changes people and their tools make, and changes AWS makes by itself.
var eksOps, eksAutoOps []weighted[*eksOp]

// encodeARN writes an ARN the way CloudTrail records path parameters.
func encodeARN(arn string) string { return arnEscaper.Replace(arn) }

var arnEscaper = strings.NewReplacer(":", "%3A", "/", "%2F")

func init() {
	clusterARN := func(g *fileGen, cluster string) string { return g.arn("eks", "cluster/"+cluster) }
	token := func(g *fileGen) kv { return kv{"clientRequestToken", uuid(g.r)} }
	created := func(g *fileGen) float64 { return float64(g.epochMillis()) / 1000 }
	update := func(g *fileGen, typ string, params ...[2]string) obj {
		var ps []obj
		for _, p := range params {
			ps = append(ps, obj{{"type", p[0]}, {"value", p[1]}})
		}
		return obj{{"update", obj{{"id", uuid(g.r)}, {"status", "InProgress"}, {"type", typ}, {"params", ps}, {"createdAt", created(g)}, {"errors", []obj{}}}}}
	}
	principalARN := func(g *fileGen) string {
		switch g.r.IntN(5) {
		case 0:
			return g.roleARN("eks-node-role")
		case 1:
			return "arn:aws:iam::" + g.acct.id + ":role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_AdministratorAccess_" + g.acct.ssoSuffix
		case 2:
			return g.roleARN("github-actions-deploy")
		case 3:
			return "arn:aws:iam::" + g.acct.id + ":user/bob"
		}
		return "arn:aws:iam::999988887777:role/vendor-support" // another account
	}
	nodegroup := func(g *fileGen) string {
		return pick(g.r, []string{"general", "system", "gpu-spot"}) + "-" + randString(g.r, "abcdefghijklmnopqrstuvwxyz0123456789", 5)
	}
	tags := func(g *fileGen) obj {
		return obj{{"team", pick(g.r, []string{"platform", "payments", "data"})}, {"env", pick(g.r, []string{"prod", "staging"})},
			{"cost-center", fmt.Sprint(1000 + g.r.IntN(9000))}}
	}
	add := func(name, rule string, w, auto int, build func(g *fileGen, c *call, cluster string)) {
		op := &eksOp{name: name, rule: rule, build: build}
		eksOps = append(eksOps, weighted[*eksOp]{w, op})
		if auto > 0 {
			eksAutoOps = append(eksAutoOps, weighted[*eksOp]{auto, op})
		}
		if templates["eks."+name] == nil {
			def("eks."+name, "", nil)
		}
	}

	add("UpdateClusterConfig", "EKS-CLUSTER-CONFIG", 10, 0, func(g *fileGen, c *call, cl string) {
		switch g.r.IntN(6) {
		case 0, 1:
			cidrs := []string{"0.0.0.0/0"}
			if g.chance(0.6) {
				cidrs = []string{"203.0.113.0/24", "198.51.100.0/24"}
			}
			c.req = obj{{"name", cl}, {"resourcesVpcConfig", obj{{"endpointPublicAccess", true}, {"publicAccessCidrs", cidrs}, {"endpointPrivateAccess", true}}}, token(g)}
			c.resp = update(g, "EndpointAccessUpdate", [2]string{"EndpointPublicAccess", "true"}, [2]string{"EndpointPrivateAccess", "true"},
				[2]string{"PublicAccessCidrs", `["` + strings.Join(cidrs, `","`) + `"]`})
		case 2, 3:
			on := g.chance(0.6)
			types := []string{"api", "audit", "authenticator", "controllerManager", "scheduler"}[:2+g.r.IntN(4)]
			c.req = obj{{"name", cl}, {"logging", obj{{"clusterLogging", []obj{{{"types", types}, {"enabled", on}}}}}}, token(g)}
			c.resp = update(g, "LoggingUpdate", [2]string{"ClusterLogging", fmt.Sprintf(`[{"types":["%s"],"enabled":%t}]`, strings.Join(types, `","`), on)})
		case 4:
			c.req = obj{{"name", cl}, {"accessConfig", obj{{"authenticationMode", "API_AND_CONFIG_MAP"}}}, token(g)}
			c.resp = update(g, "AccessConfigUpdate", [2]string{"AuthenticationMode", "API_AND_CONFIG_MAP"})
		default:
			c.req = obj{{"name", cl}, {"deletionProtection", g.chance(0.5)}, token(g)}
			c.resp = update(g, "DeletionProtectionUpdate", [2]string{"DeletionProtection", "false"})
		}
	})
	add("CreateAccessEntry", "EKS-ACCESS-ENTRY", 8, 0, func(g *fileGen, c *call, cl string) {
		p := principalARN(g)
		req := obj{{"name", cl}, {"principalArn", p}}
		if g.chance(0.3) {
			req = append(req, kv{"kubernetesGroups", []string{pick(g.r, []string{"system:masters", "developers", "viewers"})}})
		}
		typ := "STANDARD"
		if strings.HasSuffix(p, "eks-node-role") {
			typ = "EC2_LINUX"
		}
		c.req = append(req, kv{"type", typ}, token(g))
		c.resp = obj{{"accessEntry", obj{{"clusterName", cl}, {"principalArn", p}, {"kubernetesGroups", []string{}},
			{"accessEntryArn", g.arn("eks", "access-entry/"+cl+"/role/"+g.acct.id+"/"+p[strings.LastIndexByte(p, '/')+1:]+"/"+uuid(g.r))},
			{"createdAt", created(g)}, {"modifiedAt", created(g)}, {"tags", obj{}}, {"username", p}, {"type", typ}}}}
	})
	add("DeleteAccessEntry", "EKS-ACCESS-ENTRY", 3, 0, func(g *fileGen, c *call, cl string) {
		c.req = obj{{"name", cl}, {"principalArn", encodeARN(principalARN(g))}}
		c.resp = obj{}
	})
	add("AssociateAccessPolicy", "EKS-ACCESS-POLICY", 8, 0, func(g *fileGen, c *call, cl string) {
		p := principalARN(g)
		pol := "arn:aws:eks::aws:cluster-access-policy/" + pick(g.r, []string{"AmazonEKSClusterAdminPolicy", "AmazonEKSAdminPolicy", "AmazonEKSEditPolicy", "AmazonEKSViewPolicy"})
		scope := obj{{"type", "cluster"}}
		if g.chance(0.4) {
			scope = obj{{"type", "namespace"}, {"namespaces", []string{pick(g.r, []string{"payments", "team-a", "monitoring"})}}}
		}
		c.req = obj{{"name", cl}, {"principalArn", encodeARN(p)}, {"policyArn", pol}, {"accessScope", scope}}
		c.resp = obj{{"clusterName", cl}, {"principalArn", p}, {"associatedAccessPolicy", obj{{"policyArn", pol}, {"accessScope", scope},
			{"associatedAt", created(g)}, {"modifiedAt", created(g)}}}}
	})
	add("DisassociateAccessPolicy", "EKS-ACCESS-POLICY", 2, 0, func(g *fileGen, c *call, cl string) {
		c.req = obj{{"name", cl}, {"principalArn", encodeARN(principalARN(g))}, {"policyArn", encodeARN("arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy")}}
		c.resp = obj{}
	})
	ngBody := func(g *fileGen, cl, ng, status string) obj {
		return obj{{"nodegroup", obj{{"nodegroupName", ng}, {"nodegroupArn", g.arn("eks", "nodegroup/"+cl+"/"+ng+"/"+uuid(g.r))},
			{"clusterName", cl}, {"version", "1.31"}, {"releaseVersion", "1.31.4-20250123"}, {"createdAt", created(g)}, {"modifiedAt", created(g)},
			{"status", status}, {"capacityType", "ON_DEMAND"}, {"scalingConfig", obj{{"minSize", 2}, {"maxSize", 10}, {"desiredSize", 3}}},
			{"instanceTypes", []string{"m6i.large", "m6a.large"}}, {"subnets", g.acct.subnets[:3]}, {"amiType", "AL2023_x86_64_STANDARD"},
			{"nodeRole", g.roleARN("eks-node-role")}, {"labels", obj{{"workload", "general"}}}, {"diskSize", 50},
			{"health", obj{{"issues", []obj{}}}}, {"updateConfig", obj{{"maxUnavailable", 1}}}, {"tags", tags(g)}}}}
	}
	add("CreateNodegroup", "EKS-NODEGROUP", 4, 0, func(g *fileGen, c *call, cl string) {
		ng := nodegroup(g)
		req := obj{{"name", cl}, {"nodegroupName", ng}, {"scalingConfig", obj{{"minSize", 2}, {"maxSize", 10}, {"desiredSize", 3}}},
			{"diskSize", 50}, {"subnets", g.acct.subnets[:3]}, {"instanceTypes", []string{"m6i.large", "m6a.large"}},
			{"amiType", "AL2023_x86_64_STANDARD"}, {"nodeRole", g.roleARN("eks-node-role")}, {"labels", obj{{"workload", "general"}}},
			{"tags", tags(g)}, token(g), {"capacityType", "ON_DEMAND"}, {"updateConfig", obj{{"maxUnavailable", 1}}}}
		if g.chance(0.2) {
			req = append(req, kv{"remoteAccess", obj{{"ec2SshKey", "ops-key"}}})
		}
		c.req = req
		c.resp = ngBody(g, cl, ng, "CREATING")
	})
	add("UpdateNodegroupConfig", "EKS-NODEGROUP", 8, 8, func(g *fileGen, c *call, cl string) {
		lo := 1 + g.r.IntN(3)
		c.req = obj{{"name", cl}, {"nodegroupName", nodegroup(g)}, {"scalingConfig", obj{{"minSize", lo}, {"maxSize", lo + 5}, {"desiredSize", lo + 1}}}, token(g)}
		c.resp = update(g, "ConfigUpdate", [2]string{"MinSize", fmt.Sprint(lo)}, [2]string{"MaxSize", fmt.Sprint(lo + 5)}, [2]string{"DesiredSize", fmt.Sprint(lo + 1)})
	})
	add("UpdateNodegroupVersion", "EKS-NODEGROUP", 5, 6, func(g *fileGen, c *call, cl string) {
		c.req = obj{{"name", cl}, {"nodegroupName", nodegroup(g)}, {"releaseVersion", "1.31.5-20250212"}, {"force", g.chance(0.1)}, token(g)}
		c.resp = update(g, "VersionUpdate", [2]string{"Version", "1.31"}, [2]string{"ReleaseVersion", "1.31.5-20250212"})
	})
	add("DeleteNodegroup", "EKS-NODEGROUP", 2, 0, func(g *fileGen, c *call, cl string) {
		ng := nodegroup(g)
		c.req = obj{{"name", cl}, {"nodegroupName", ng}}
		c.resp = ngBody(g, cl, ng, "DELETING")
	})
	add("UpdateClusterVersion", "EKS-CLUSTER-VERSION", 3, 0, func(g *fileGen, c *call, cl string) {
		c.req = obj{{"name", cl}, {"version", "1.32"}, token(g)}
		c.resp = update(g, "VersionUpdate", [2]string{"Version", "1.32"}, [2]string{"PlatformVersion", "eks.3"})
	})
	clusterBody := func(g *fileGen, cl, status string) obj {
		return obj{{"cluster", obj{{"name", cl}, {"arn", clusterARN(g, cl)}, {"createdAt", created(g)}, {"version", "1.31"},
			{"roleArn", g.roleARN("eks-cluster-role")},
			{"resourcesVpcConfig", obj{{"subnetIds", g.acct.subnets[:3]}, {"securityGroupIds", g.acct.secGroups[:1]}, {"vpcId", g.acct.vpc},
				{"endpointPublicAccess", true}, {"endpointPrivateAccess", true}, {"publicAccessCidrs", []string{"0.0.0.0/0"}}}},
			{"kubernetesNetworkConfig", obj{{"serviceIpv4Cidr", "172.20.0.0/16"}, {"ipFamily", "ipv4"}}},
			{"logging", obj{{"clusterLogging", []obj{{{"types", []string{"api", "audit", "authenticator"}}, {"enabled", true}}}}}},
			{"status", status}, {"certificateAuthority", obj{}}, {"platformVersion", "eks.18"}, {"tags", tags(g)},
			{"accessConfig", obj{{"authenticationMode", "API"}}}, {"upgradePolicy", obj{{"supportType", "EXTENDED"}}}}}}
	}
	add("CreateCluster", "EKS-CLUSTER-CREATE", 2, 0, func(g *fileGen, c *call, _ string) {
		cl := "sandbox-" + randString(g.r, "abcdefghijklmnopqrstuvwxyz", 6)
		c.req = obj{{"name", cl}, {"version", "1.31"}, {"roleArn", g.roleARN("eks-cluster-role")},
			{"resourcesVpcConfig", obj{{"subnetIds", g.acct.subnets[:3]}, {"securityGroupIds", g.acct.secGroups[:1]}, {"endpointPublicAccess", true}, {"endpointPrivateAccess", true}}},
			{"kubernetesNetworkConfig", obj{{"serviceIpv4Cidr", "172.20.0.0/16"}, {"ipFamily", "ipv4"}}},
			{"logging", obj{{"clusterLogging", []obj{{{"types", []string{"api", "audit", "authenticator"}}, {"enabled", true}}}}}},
			{"accessConfig", obj{{"authenticationMode", "API"}, {"bootstrapClusterCreatorAdminPermissions", true}}},
			{"tags", tags(g)}, token(g)}
		c.resp = clusterBody(g, cl, "CREATING")
	})
	add("DeleteCluster", "EKS-CLUSTER-DELETE", 1, 0, func(g *fileGen, c *call, cl string) {
		c.req = obj{{"name", cl}}
		c.resp = clusterBody(g, cl, "DELETING")
	})
	add("TagResource", "EKS-TAGS", 10, 6, func(g *fileGen, c *call, cl string) {
		c.req = obj{{"resourceArn", encodeARN(clusterARN(g, cl))}, {"tags", tags(g)}}
		c.resp = obj{}
	})
	add("UntagResource", "EKS-TAGS", 3, 0, func(g *fileGen, c *call, cl string) {
		c.req = obj{{"resourceArn", encodeARN(clusterARN(g, cl))}, {"tagKeys", []string{"cost-center"}}}
		c.resp = obj{}
	})
	add("CreateAddon", "EKS-ADDON", 4, 0, func(g *fileGen, c *call, cl string) {
		a := pick(g.r, eksAddons)
		c.req = obj{{"name", cl}, {"addonName", a}, {"addonVersion", "v1.19.2-eksbuild.1"}, {"resolveConflicts", "OVERWRITE"}, token(g)}
		c.resp = obj{{"addon", obj{{"addonName", a}, {"clusterName", cl}, {"status", "CREATING"}, {"addonVersion", "v1.19.2-eksbuild.1"},
			{"health", obj{{"issues", []obj{}}}}, {"addonArn", g.arn("eks", "addon/"+cl+"/"+a+"/"+uuid(g.r))},
			{"createdAt", created(g)}, {"modifiedAt", created(g)}, {"tags", obj{}}}}}
	})
	add("UpdateAddon", "EKS-ADDON", 5, 4, func(g *fileGen, c *call, cl string) {
		c.req = obj{{"name", cl}, {"addonName", pick(g.r, eksAddons)}, {"addonVersion", "v1.19.3-eksbuild.1"}, {"resolveConflicts", "PRESERVE"}, token(g)}
		c.resp = update(g, "AddonUpdate", [2]string{"AddonVersion", "v1.19.3-eksbuild.1"}, [2]string{"ResolveConflicts", "PRESERVE"})
	})
	add("CreatePodIdentityAssociation", "EKS-POD-IDENTITY", 4, 0, func(g *fileGen, c *call, cl string) {
		ns := pick(g.r, []string{"payments", "kube-system", "monitoring"})
		c.req = obj{{"name", cl}, {"namespace", ns}, {"serviceAccount", pick(g.r, []string{"api", "ebs-csi-controller-sa", "cloudwatch-agent"})},
			{"roleArn", g.roleARN("pod-" + ns)}, token(g)}
		c.resp = obj{{"association", obj{{"clusterName", cl}, {"namespace", ns}, {"associationId", "a-" + randString(g.r, "abcdefghijklmnopqrstuvwxyz0123456789", 17)},
			{"createdAt", created(g)}}}}
	})
	add("CreateFargateProfile", "EKS-FARGATE", 1, 0, func(g *fileGen, c *call, cl string) {
		c.req = obj{{"name", cl}, {"fargateProfileName", "fp-default"}, {"podExecutionRoleArn", g.roleARN("eks-fargate-pods")},
			{"subnets", g.acct.subnets[:2]}, {"selectors", []obj{{{"namespace", "batch"}, {"labels", obj{{"compute", "fargate"}}}}}}, token(g)}
	})
	add("AssociateEncryptionConfig", "EKS-ENCRYPTION", 1, 0, func(g *fileGen, c *call, cl string) {
		c.req = obj{{"name", cl}, {"encryptionConfig", []obj{{{"resources", []string{"secrets"}}, {"provider", obj{{"keyArn", g.keyARN()}}}}}}, token(g)}
		c.resp = update(g, "AssociateEncryptionConfig", [2]string{"EncryptionConfig", "secrets"})
	})
	add("AssociateIdentityProviderConfig", "EKS-IDENTITY-PROVIDER", 1, 0, func(g *fileGen, c *call, cl string) {
		c.req = obj{{"name", cl}, {"oidc", obj{{"identityProviderConfigName", "okta"}, {"issuerUrl", "https://acme.okta.com/oauth2/default"},
			{"clientId", g.hex(20)}, {"usernameClaim", "email"}, {"groupsClaim", "groups"}}}, token(g)}
		c.resp = update(g, "AssociateIdentityProviderConfig", [2]string{"IdentityProviderConfig", "okta"})
	})
}

// eksChange returns an EKS configuration change.
func (g *fileGen) eksChange() *call {
	var p *principal
	var op *eksOp
	if g.chance(0.15) {
		p, op = pickW(g.r, g.acct.automatic), pickW(g.r, eksAutoOps)
	} else {
		p, op = pickW(g.r, g.acct.changers), pickW(g.r, eksOps)
	}
	c := &call{t: templates["eks."+op.name], p: p, s: g.sessionOf(p), eks: op}
	cl := g.cluster()
	op.build(g, c, cl)
	c.resource = g.arn("eks", "cluster/"+cl)
	return c
}

// Look-alikes: other services' calls named like EKS changes.
var lookalikes []*tmpl

func init() {
	add := func(key string, build func(g *fileGen, c *call)) {
		lookalikes = append(lookalikes, def(key, "", build))
	}
	add("ecs.CreateCluster", func(g *fileGen, c *call) {
		name := pick(g.r, []string{"prod", "batch", "staging"})
		c.req = obj{{"clusterName", name}, {"settings", []obj{{{"name", "containerInsights"}, {"value", "enabled"}}}},
			{"capacityProviders", []string{"FARGATE", "FARGATE_SPOT"}}}
		c.resp = obj{{"cluster", obj{{"clusterArn", g.arn("ecs", "cluster/"+name)}, {"clusterName", name}, {"status", "ACTIVE"},
			{"registeredContainerInstancesCount", 0}, {"runningTasksCount", 0}, {"pendingTasksCount", 0}, {"activeServicesCount", 0},
			{"statistics", []obj{}}, {"tags", []obj{}}, {"settings", []obj{{{"name", "containerInsights"}, {"value", "enabled"}}}},
			{"capacityProviders", []string{"FARGATE", "FARGATE_SPOT"}}, {"defaultCapacityProviderStrategy", []obj{}}}}}
	})
	add("ecs.DeleteCluster", func(g *fileGen, c *call) {
		c.req = obj{{"cluster", "staging"}}
		c.resp = obj{{"cluster", obj{{"clusterArn", g.arn("ecs", "cluster/staging")}, {"clusterName", "staging"}, {"status", "INACTIVE"}}}}
	})
	add("ecs.TagResource", func(g *fileGen, c *call) {
		c.req = obj{{"resourceArn", g.arn("ecs", "cluster/prod")}, {"tags", []obj{{{"key", "team"}, {"value", "platform"}}}}}
	})
	add("redshift.CreateCluster", func(g *fileGen, c *call) {
		id := "analytics-" + randString(g.r, "abcdefghijklmnopqrstuvwxyz", 4)
		c.req = obj{{"clusterIdentifier", id}, {"nodeType", "ra3.xlplus"}, {"masterUsername", "admin"},
			{"masterUserPassword", "HIDDEN_DUE_TO_SECURITY_REASONS"}, {"numberOfNodes", 2}, {"clusterSubnetGroupName", "analytics"},
			{"vpcSecurityGroupIds", g.acct.secGroups[:1]}, {"encrypted", true}, {"kmsKeyId", g.keyARN()}, {"publiclyAccessible", false}}
		c.resp = obj{{"clusterIdentifier", id}, {"nodeType", "ra3.xlplus"}, {"clusterStatus", "creating"}, {"clusterAvailabilityStatus", "Modifying"},
			{"masterUsername", "admin"}, {"dBName", "dev"}, {"automatedSnapshotRetentionPeriod", 1}, {"manualSnapshotRetentionPeriod", -1},
			{"clusterSecurityGroups", []obj{}}, {"vpcSecurityGroups", []obj{{{"vpcSecurityGroupId", g.acct.secGroups[0]}, {"status", "active"}}}},
			{"clusterParameterGroups", []obj{{{"parameterGroupName", "default.redshift-1.0"}, {"parameterApplyStatus", "in-sync"}}}},
			{"clusterSubnetGroupName", "analytics"}, {"vpcId", g.acct.vpc}, {"preferredMaintenanceWindow", "sat:07:30-sat:08:00"},
			{"pendingModifiedValues", obj{{"masterUserPassword", "****"}}}, {"clusterVersion", "1.0"}, {"allowVersionUpgrade", true},
			{"numberOfNodes", 2}, {"publiclyAccessible", false}, {"encrypted", true}, {"kmsKeyId", g.keyARN()}, {"enhancedVpcRouting", false},
			{"maintenanceTrackName", "current"}, {"aquaConfiguration", obj{{"aquaStatus", "disabled"}, {"aquaConfigurationStatus", "auto"}}}}
	})
	add("redshift.DeleteCluster", func(g *fileGen, c *call) {
		c.req = obj{{"clusterIdentifier", "analytics-old"}, {"skipFinalClusterSnapshot", false}, {"finalClusterSnapshotIdentifier", "analytics-old-final"}}
		c.resp = obj{{"clusterIdentifier", "analytics-old"}, {"clusterStatus", "final-snapshot"}}
	})
	add("kafka.CreateCluster", func(g *fileGen, c *call) {
		c.req = obj{{"clusterName", "events"}, {"kafkaVersion", "3.6.0"}, {"numberOfBrokerNodes", 3},
			{"brokerNodeGroupInfo", obj{{"instanceType", "kafka.m5.large"}, {"clientSubnets", g.acct.subnets[:3]}, {"securityGroups", g.acct.secGroups[:1]}}}}
		c.resp = obj{{"clusterArn", g.arn("kafka", "cluster/events/"+uuid(g.r))}, {"clusterName", "events"}, {"state", "CREATING"}}
	})
	add("kafka.DeleteCluster", func(g *fileGen, c *call) {
		c.req = obj{{"clusterArn", encodeARN(g.arn("kafka", "cluster/events/"+uuid(g.r)))}}
		c.resp = obj{{"state", "DELETING"}}
	})
	add("memorydb.CreateCluster", func(g *fileGen, c *call) {
		c.req = obj{{"clusterName", "sessions"}, {"nodeType", "db.r7g.large"}, {"aCLName", "open-access"}, {"numShards", 1}, {"tLSEnabled", true}}
	})
	add("dax.CreateCluster", func(g *fileGen, c *call) {
		c.req = obj{{"clusterName", "orders-cache"}, {"nodeType", "dax.r5.large"}, {"replicationFactor", 3}, {"iamRoleArn", g.roleARN("dax-access")}}
	})
}

// lookalike returns a call of another service named like an EKS change.
func (g *fileGen) lookalike() *call {
	p := pickW(g.r, g.acct.changers)
	t := pick(g.r, lookalikes)
	c := &call{t: t, p: p, s: g.sessionOf(p)}
	t.build(g, c)
	return c
}
