terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      # aws_eks_pod_identity_association needs 5.31 or newer.
      source  = "hashicorp/aws"
      version = ">= 5.31, < 7.0"
    }
  }
}
