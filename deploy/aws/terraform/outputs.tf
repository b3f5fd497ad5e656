output "queue_url" {
  description = "The sqs source's queue_url in trailwatch.yaml."
  value       = aws_sqs_queue.main.id
}

output "queue_arn" {
  value = aws_sqs_queue.main.arn
}

output "dead_letter_queue_url" {
  description = "Messages trailwatch failed max_receive_count times, and events EventBridge could not deliver."
  value       = aws_sqs_queue.dlq.id
}

output "dead_letter_queue_arn" {
  value = aws_sqs_queue.dlq.arn
}

output "consumer_policy_arn" {
  description = "Attach to the IAM role trailwatch runs as."
  value       = aws_iam_policy.consumer.arn
}

output "rule_arn" {
  value = aws_cloudwatch_event_rule.cloudtrail.arn
}

output "event_pattern" {
  description = "The rule's event pattern, as JSON."
  value       = aws_cloudwatch_event_rule.cloudtrail.event_pattern
}

output "role_arn" {
  description = "The trailwatch role, when eks_pod_identity or irsa is set."
  value       = local.create_role ? aws_iam_role.trailwatch[0].arn : null
}

output "s3_notification_configuration" {
  description = "The queue configuration to merge into the trail bucket's notification configuration (when manage_bucket_notification is false)."
  value = var.enable_s3_notifications ? jsonencode({
    Id       = "trailwatch"
    QueueArn = aws_sqs_queue.main.arn
    Events   = ["s3:ObjectCreated:*"]
    Filter = { Key = { FilterRules = [
      { Name = "prefix", Value = "${local.key_prefix}AWSLogs/" },
      { Name = "suffix", Value = ".json.gz" },
    ] } }
  }) : null
}
