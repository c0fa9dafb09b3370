"""archc: compile arch.yaml into CloudFormation templates and deploy them through reviewed change sets."""

__version__ = "0.1.0"
