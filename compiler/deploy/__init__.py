"""Deploy: plan (change sets and their review), deploy (execute what was reviewed); boto3 is imported only inside `aws`."""
