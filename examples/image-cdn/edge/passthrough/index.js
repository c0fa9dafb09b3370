// origin-request: hand the request to the S3 origin unchanged (seeds/003 keeps this hook for later processing).
exports.handler = async (event) => event.Records[0].cf.request;
