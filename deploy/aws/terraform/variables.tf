variable "queue_name" {
  description = "Name of the queue trailwatch reads; the dead-letter queue is <queue_name>-dlq and the rule <queue_name>-cloudtrail."
  type        = string
  default     = "trailwatch-events"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,53}$", var.queue_name))
    error_message = "queue_name: letters, digits, - and _, at most 53 characters."
  }
}

variable "message_retention_seconds" {
  description = "Seconds a message stays in the queue while trailwatch is down (default 4 days, at most 14)."
  type        = number
  default     = 345600

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600
    error_message = "message_retention_seconds: between 60 and 1209600."
  }
}

variable "visibility_timeout_seconds" {
  description = "Seconds a received message stays hidden before it is redelivered."
  type        = number
  default     = 120
}

variable "max_receive_count" {
  description = "Deliveries of one message before it is moved to the dead-letter queue."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count: between 1 and 1000."
  }
}

variable "extra_event_sources" {
  description = "More services to forward besides those the rule catalogue watches, as CloudTrail eventSource values (e.g. [\"dynamodb.amazonaws.com\"]), for rules of your own."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.extra_event_sources : can(regex("^[a-z0-9-]+\\.amazonaws\\.com$", s))])
    error_message = "extra_event_sources: CloudTrail eventSource values such as iam.amazonaws.com."
  }
}

variable "consumer_principal_arn" {
  description = "IAM role trailwatch runs as when it lives in another account: the queue policy then lets that role (only) consume. Empty: attach consumer_policy_arn to a role of this account."
  type        = string
  default     = ""

  validation {
    condition     = var.consumer_principal_arn == "" || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", var.consumer_principal_arn))
    error_message = "consumer_principal_arn: an IAM role or user ARN, or empty."
  }
}

variable "enable_s3_notifications" {
  description = "Accept S3 ObjectCreated notifications of the CloudTrail bucket on the queue and grant read access to the log files. Only in the bucket's region."
  type        = bool
  default     = false
}

variable "manage_bucket_notification" {
  description = "Also write the bucket's notification configuration (aws_s3_bucket_notification). It OWNS the bucket's whole notification configuration: only when nothing else configures notifications on that bucket, and the bucket is in this account and region."
  type        = bool
  default     = false
}

variable "trail_bucket_name" {
  description = "The CloudTrail bucket (required with enable_s3_notifications)."
  type        = string
  default     = ""
}

variable "trail_bucket_account_id" {
  description = "Account that owns the trail bucket (aws:SourceAccount); empty means the current account."
  type        = string
  default     = ""
}

variable "trail_key_prefix" {
  description = "The trail's S3 key prefix without slashes, if any (the part before /AWSLogs/)."
  type        = string
  default     = ""
}

variable "trail_bucket_kms_key_arn" {
  description = "KMS key that encrypts the trail's log files (SSE-KMS), if any."
  type        = string
  default     = ""
}

variable "eks_pod_identity" {
  description = "Create the trailwatch IAM role for EKS Pod Identity and associate it with the service account. Create it in one region only (IAM is global)."
  type = object({
    cluster_name    = string
    namespace       = optional(string, "trailwatch")
    service_account = optional(string, "trailwatch")
    role_name       = optional(string, "trailwatch")
  })
  default = null
}

variable "irsa" {
  description = "Create the trailwatch IAM role for IAM Roles for Service Accounts instead: the cluster's OIDC provider ARN and issuer host (without https://)."
  type = object({
    oidc_provider_arn = string
    oidc_issuer       = string
    namespace         = optional(string, "trailwatch")
    service_account   = optional(string, "trailwatch")
    role_name         = optional(string, "trailwatch")
  })
  default = null
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
