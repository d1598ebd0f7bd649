"""The vendor console (console/, a static single-page app) served by the platform: a private S3 bucket behind
CloudFront with origin access control, HTTPS only, security headers and a strict Content-Security-Policy.

The vendor API is served by the same distribution under `/api/*` (its stage as a second origin), so the console
calls its own origin: no CORS on the API, and the CSP's connect-src names only the origin, Cognito and S3 (the
presigned knowledge uploads). `config.json` (API base URL, user pool id, client id, region) is written at deploy
from the stack's own tokens, so one build serves every environment. The console's origin is published in SSM
for tenant stacks (their knowledge buckets accept the console's uploads from it).
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from oratio.console_security import content_security_policy as console_policy
from stacks.constructs.knowledge_documents import BUCKET_DEPLOYMENT_HANDLER, acknowledge_bucket_copy
from stacks.constructs.storage import access_log_bucket, private_bucket
from stacks.constructs.vendor_api import API_BASE_PATH, STAGE_NAME, VendorApi
from stacks.nag import acknowledge
from stacks.names import Outputs, console_origin_parameter

ROOT = Path(__file__).resolve().parents[2]
CONSOLE_DIST = ROOT / "console" / "dist"
CONFIG_FILE = "config.json"
HSTS_MAX_AGE = Duration.days(730)
API_PATH_PATTERN = f"/{API_BASE_PATH[0]}/*"


def content_security_policy(region: str, url_suffix: str) -> str:
    """The console's policy in this region: fetches to Cognito (sign-in) and S3 (presigned uploads, recordings),
    media from S3 (`oratio.console_security`)."""
    s3_hosts = [f"https://*.s3.{region}.{url_suffix}", f"https://*.s3.{url_suffix}"]
    return console_policy(
        connect_hosts=[f"https://cognito-idp.{region}.{url_suffix}", *s3_hosts], media_sources=s3_hosts
    )


class ConsoleHosting(Construct):
    """Bucket, distribution (console + `/api/*`), security headers, the console's files and its config.json.

    Public attributes: `bucket`, `distribution`, `headers`, `url` (https://<distribution domain>).
    """

    def __init__(self, scope: Construct, construct_id: str, *, vendor_api: VendorApi, dist: Path = CONSOLE_DIST):
        super().__init__(scope, construct_id)
        if not (dist / "index.html").is_file():
            raise FileNotFoundError(
                f"the vendor console is not built ({dist / 'index.html'} is missing): run `make setup` "
                "(it runs `npm ci && npm run build` in console/)"
            )
        stack = Stack.of(self)
        logs = access_log_bucket(self, "AccessLogs")
        self.bucket = private_bucket(self, "Bucket", access_logs=logs, log_prefix="console/")
        self.headers = self._headers(stack)
        self.distribution = self._distribution(stack, vendor_api)
        self.url = f"https://{self.distribution.distribution_domain_name}"
        self.deployment = s3deploy.BucketDeployment(
            self,
            "Files",
            destination_bucket=self.bucket,
            sources=[
                s3deploy.Source.asset(str(dist)),
                s3deploy.Source.json_data(
                    CONFIG_FILE,
                    {
                        # The API under the console's own origin (the distribution's /api/* behaviour).
                        "apiBaseUrl": self.url,
                        "userPoolId": vendor_api.user_pool.user_pool_id,
                        "userPoolClientId": vendor_api.user_pool_client.user_pool_client_id,
                        "region": stack.region,
                    },
                ),
            ],
            prune=True,  # files of an older build are removed
            distribution=self.distribution,
            distribution_paths=["/index.html", f"/{CONFIG_FILE}"],  # assets are content-hashed
        )
        ssm.StringParameter(
            self,
            "OriginParameter",
            parameter_name=console_origin_parameter(),
            string_value=self.url,
            description="The vendor console's origin (tenant knowledge buckets accept its uploads)",
        )
        CfnOutput(stack, Outputs.CONSOLE_URL, value=self.url)
        self._acknowledge(stack)

    def _headers(self, stack: Stack) -> cloudfront.ResponseHeadersPolicy:
        return cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment="Oratio vendor console: HSTS, strict CSP, no framing, no sniffing, no referrer",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=content_security_policy(stack.region, stack.url_suffix), override=True
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=HSTS_MAX_AGE, include_subdomains=True, preload=True, override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
                ),
            ),
            custom_headers_behavior=cloudfront.ResponseCustomHeadersBehavior(
                custom_headers=[
                    cloudfront.ResponseCustomHeader(
                        header="Permissions-Policy",
                        value="camera=(), microphone=(), geolocation=(), payment=(), usb=()",
                        override=True,
                    ),
                    cloudfront.ResponseCustomHeader(
                        header="Cross-Origin-Opener-Policy", value="same-origin", override=True
                    ),
                ]
            ),
        )

    def _distribution(self, stack: Stack, vendor_api: VendorApi) -> cloudfront.Distribution:
        # CloudFront standard logs are written with ACLs: their bucket must accept them.
        log_bucket = s3.Bucket(
            self,
            "DistributionLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365))],
            server_access_logs_bucket=None,
        )
        acknowledge(log_bucket, "S1", "This bucket receives CloudFront's access logs; logging it would log logs.")
        api_origin = origins.HttpOrigin(
            f"{vendor_api.api.rest_api_id}.execute-api.{stack.region}.{stack.url_suffix}",
            origin_path=f"/{STAGE_NAME}",
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
        )
        # The ID token is part of the key (that is how CloudFront forwards Authorization), and nothing is kept
        # past a second: the API's answers are per vendor and change with every write.
        api_cache = cloudfront.CachePolicy(
            self,
            "ApiCachePolicy",
            comment="Vendor API through the console's origin: Authorization forwarded, effectively no caching",
            default_ttl=Duration.seconds(0),
            min_ttl=Duration.seconds(0),
            max_ttl=Duration.seconds(1),
            header_behavior=cloudfront.CacheHeaderBehavior.allow_list("Authorization"),
            query_string_behavior=cloudfront.CacheQueryStringBehavior.all(),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
        )
        return cloudfront.Distribution(
            self,
            "Distribution",
            comment="Oratio vendor console",
            default_root_object="index.html",
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            enable_logging=True,
            log_bucket=log_bucket,
            log_file_prefix="console/",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=self.headers,
                compress=True,
            ),
            additional_behaviors={
                API_PATH_PATTERN: cloudfront.BehaviorOptions(
                    origin=api_origin,
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                    cache_policy=api_cache,
                    # Everything the API reads (headers, query strings) except Host: API Gateway routes by it.
                    origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                    response_headers_policy=self.headers,
                    compress=True,
                )
            },
        )

    def _acknowledge(self, stack: Stack) -> None:
        acknowledge(
            self.distribution,
            "CFR1",
            "Vendors sign in from wherever they work; the API's Cognito authorizer, not geography, decides access.",
        )
        acknowledge(
            self.distribution,
            "CFR2",
            "Static files and an API that authenticates every call (Cognito) and rate-limits per vendor in its "
            "handler and stage throttling; a WAF web ACL is left to the operator (it is billed per rule).",
        )
        acknowledge(
            self.distribution,
            "CFR4",
            "The distribution uses CloudFront's default *.cloudfront.net certificate (no custom domain is "
            "configured), for which CloudFront itself negotiates TLS; viewers are refused plain HTTP.",
        )
        handler = stack.node.try_find_child(BUCKET_DEPLOYMENT_HANDLER)
        if handler is None:
            return
        what = "the CDK's bucket deployment handler (copies the built console and writes config.json)"
        acknowledge(handler, "L1", f"{what}: its runtime is pinned by aws-cdk-lib, not by this project.")
        acknowledge(
            handler,
            "IAM4",
            f"{what}: the CDK gives it AWSLambdaBasicExecutionRole for its own logs.",
            applies_to="Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        )
        bucket = stack.resolve(stack.get_logical_id(self.bucket.node.default_child))  # type: ignore[arg-type]
        copied = (
            f"{what}: it copies the build (objects of the CDK asset bucket) into the console bucket and prunes files "
            "of older builds; the CDK's grant names those object patterns."
        )
        acknowledge_bucket_copy(handler, stack, bucket, copied)
        acknowledge(
            handler,
            "IAM5",
            f"{what}: aws-cdk-lib grants it cloudfront:CreateInvalidation/GetInvalidation on '*' (not scoped to the "
            "distribution); it invalidates index.html and config.json after each deploy.",
            applies_to="Resource::*",
        )
