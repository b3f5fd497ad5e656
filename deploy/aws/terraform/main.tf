# trailwatch: CloudTrail change events of the services trailwatch's rules watch (and
# optionally more) from this region's default event bus to an encrypted SQS queue with a
# dead-letter queue, plus the least-privilege policy the trailwatch consumer needs. The
# same resources as ../cloudformation/trailwatch.yaml; instantiate the module once per
# region (one provider alias per region).

data "aws_partition" "current" {}

locals {
  partition = data.aws_partition.current.partition
  # Region and account of this instance, from the queue's ARN (works with every provider version).
  region  = split(":", aws_sqs_queue.main.arn)[3]
  account = split(":", aws_sqs_queue.main.arn)[4]

  # The event pattern is shared with the CloudFormation template: ../event-pattern.json
  # (the services the rule catalogue watches; deploy_test.go checks the list against it).
  # readOnly [false, {"exists": false}] drops reads but keeps records without the key, and
  # the source is any source with the "aws." prefix while detail.eventSource selects the
  # services exactly; see docs/deploy.md. Extra services are appended to detail.eventSource.
  base_pattern = jsondecode(file("${path.module}/../event-pattern.json"))
  event_pattern = merge(local.base_pattern, {
    detail = merge(local.base_pattern["detail"], {
      eventSource = distinct(concat(local.base_pattern["detail"]["eventSource"], var.extra_event_sources))
    })
  })

  consumer_actions = [
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
  ]

  key_prefix           = var.trail_key_prefix == "" ? "" : "${var.trail_key_prefix}/"
  trail_bucket_account = var.trail_bucket_account_id == "" ? local.account : var.trail_bucket_account_id
  create_role          = var.eks_pod_identity != null || var.irsa != null
}

resource "aws_sqs_queue" "dlq" {
  name                      = "${var.queue_name}-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
}

resource "aws_sqs_queue" "main" {
  name                       = var.queue_name
  message_retention_seconds  = var.message_retention_seconds
  visibility_timeout_seconds = var.visibility_timeout_seconds
  receive_wait_time_seconds  = 20
  # SSE-SQS: EventBridge and S3 can deliver without a customer managed key.
  sqs_managed_sse_enabled = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })
  tags = var.tags
}

# Only the main queue may redrive into the dead-letter queue.
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.main.arn]
  })
}

resource "aws_cloudwatch_event_rule" "cloudtrail" {
  name           = "${var.queue_name}-cloudtrail"
  description    = "trailwatch - CloudTrail API calls that change EKS (and the extra event sources) to SQS"
  event_bus_name = "default"
  # Enabled (the default), not ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS: reads stay out.
  event_pattern = jsonencode(local.event_pattern)
  tags          = var.tags
}

resource "aws_cloudwatch_event_target" "queue" {
  rule           = aws_cloudwatch_event_rule.cloudtrail.name
  event_bus_name = "default"
  target_id      = "trailwatch-queue"
  arn            = aws_sqs_queue.main.arn

  dead_letter_config {
    arn = aws_sqs_queue.dlq.arn
  }

  retry_policy {
    maximum_event_age_in_seconds = 86400
    maximum_retry_attempts       = 185
  }
}

data "aws_iam_policy_document" "queue" {
  statement {
    sid       = "EventBridgeRuleSends"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.main.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.cloudtrail.arn]
    }
  }

  dynamic "statement" {
    for_each = var.enable_s3_notifications ? [1] : []
    content {
      sid       = "TrailBucketNotifies"
      effect    = "Allow"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.main.arn]
      principals {
        type        = "Service"
        identifiers = ["s3.amazonaws.com"]
      }
      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = ["arn:${local.partition}:s3:::${var.trail_bucket_name}"]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [local.trail_bucket_account]
      }
    }
  }

  # Granted to the principal's account, narrowed to the one role by aws:PrincipalArn,
  # so that the role may be created after the queue.
  dynamic "statement" {
    for_each = var.consumer_principal_arn == "" ? [] : [1]
    content {
      sid       = "TrailwatchConsumes"
      effect    = "Allow"
      actions   = local.consumer_actions
      resources = [aws_sqs_queue.main.arn]
      principals {
        type        = "AWS"
        identifiers = ["arn:${local.partition}:iam::${split(":", var.consumer_principal_arn)[4]}:root"]
      }
      condition {
        test     = "ArnEquals"
        variable = "aws:PrincipalArn"
        values   = [var.consumer_principal_arn]
      }
    }
  }
}

resource "aws_sqs_queue_policy" "main" {
  queue_url = aws_sqs_queue.main.id
  policy    = data.aws_iam_policy_document.queue.json

  lifecycle {
    precondition {
      condition     = !var.enable_s3_notifications || var.trail_bucket_name != ""
      error_message = "trail_bucket_name is required when enable_s3_notifications is true."
    }
  }
}

data "aws_iam_policy_document" "dlq" {
  statement {
    sid       = "EventBridgeRuleDeadLetters"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.cloudtrail.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  policy    = data.aws_iam_policy_document.dlq.json
}

data "aws_iam_policy_document" "consumer" {
  statement {
    sid       = "ConsumeEventQueue"
    effect    = "Allow"
    actions   = local.consumer_actions
    resources = [aws_sqs_queue.main.arn]
  }

  # Log files only: CloudTrail-Digest/ and the rest of the bucket stay out of reach.
  dynamic "statement" {
    for_each = var.enable_s3_notifications ? [1] : []
    content {
      sid       = "ReadTrailLogFiles"
      effect    = "Allow"
      actions   = ["s3:GetObject"]
      resources = ["arn:${local.partition}:s3:::${var.trail_bucket_name}/${local.key_prefix}AWSLogs/*/CloudTrail/*"]
    }
  }

  dynamic "statement" {
    for_each = var.trail_bucket_kms_key_arn == "" ? [] : [1]
    content {
      sid       = "DecryptTrailLogFiles"
      effect    = "Allow"
      actions   = ["kms:Decrypt"]
      resources = [var.trail_bucket_kms_key_arn]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${local.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_policy" "consumer" {
  # IAM is global: the region keeps the instances of one account apart.
  name        = "${var.queue_name}-consumer-${local.region}"
  description = "What trailwatch needs to consume the CloudTrail event queue, and nothing more."
  policy      = data.aws_iam_policy_document.consumer.json
  tags        = var.tags
}

# Optional: the bucket's notification configuration. aws_s3_bucket_notification owns the
# WHOLE configuration of the bucket: enable only when nothing else writes it.
resource "aws_s3_bucket_notification" "trail" {
  count  = var.enable_s3_notifications && var.manage_bucket_notification ? 1 : 0
  bucket = var.trail_bucket_name

  queue {
    id            = "trailwatch"
    queue_arn     = aws_sqs_queue.main.arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = "${local.key_prefix}AWSLogs/"
    filter_suffix = ".json.gz"
  }

  # S3 sends a test message when the configuration is written: the queue policy must exist.
  depends_on = [aws_sqs_queue_policy.main]
}

# Optional: the trailwatch role, for EKS Pod Identity or IRSA.
data "aws_iam_policy_document" "trust" {
  count = local.create_role ? 1 : 0

  dynamic "statement" {
    for_each = var.eks_pod_identity != null ? [1] : []
    content {
      effect  = "Allow"
      actions = ["sts:AssumeRole", "sts:TagSession"]
      principals {
        type        = "Service"
        identifiers = ["pods.eks.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.irsa != null ? [var.irsa] : []
    content {
      effect  = "Allow"
      actions = ["sts:AssumeRoleWithWebIdentity"]
      principals {
        type        = "Federated"
        identifiers = [statement.value.oidc_provider_arn]
      }
      condition {
        test     = "StringEquals"
        variable = "${statement.value.oidc_issuer}:sub"
        values   = ["system:serviceaccount:${statement.value.namespace}:${statement.value.service_account}"]
      }
      condition {
        test     = "StringEquals"
        variable = "${statement.value.oidc_issuer}:aud"
        values   = ["sts.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role" "trailwatch" {
  count              = local.create_role ? 1 : 0
  name               = var.eks_pod_identity != null ? var.eks_pod_identity.role_name : var.irsa.role_name
  description        = "trailwatch: reads CloudTrail events from SQS"
  assume_role_policy = data.aws_iam_policy_document.trust[0].json
  tags               = var.tags

  lifecycle {
    precondition {
      condition     = var.eks_pod_identity == null || var.irsa == null
      error_message = "Set eks_pod_identity or irsa, not both."
    }
  }
}

resource "aws_iam_role_policy_attachment" "trailwatch" {
  count      = local.create_role ? 1 : 0
  role       = aws_iam_role.trailwatch[0].name
  policy_arn = aws_iam_policy.consumer.arn
}

resource "aws_eks_pod_identity_association" "trailwatch" {
  count           = var.eks_pod_identity != null ? 1 : 0
  cluster_name    = var.eks_pod_identity.cluster_name
  namespace       = var.eks_pod_identity.namespace
  service_account = var.eks_pod_identity.service_account
  role_arn        = aws_iam_role.trailwatch[0].arn
  tags            = var.tags
}
