"""The vendor console's hosting in PlatformStack: private bucket behind CloudFront with origin access control,
HTTPS only, security headers and a strict CSP, config.json written at deploy with the stack's own ids, the API under
the console's origin with the ID token forwarded; the tenants' knowledge buckets accept the console's uploads."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from stacks.names import Outputs, console_origin_parameter
from tests.infra.conftest import Synthesized


def _joined(value: Any) -> str:
    """A string property as CloudFormation will write it in us-east-1 (pseudo parameters filled in)."""
    if isinstance(value, str):
        return value
    pseudo = {"AWS::URLSuffix": "amazonaws.com", "AWS::Region": "us-east-1"}
    separator, parts = value["Fn::Join"]
    return str(separator).join(p if isinstance(p, str) else pseudo[p["Ref"]] for p in parts)


def _only(template: Template, kind: str) -> dict[str, Any]:
    found = template.find_resources(kind)
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    return next(iter(found.values()))


@pytest.fixture(scope="module")
def distribution(platform_template: Template) -> dict[str, Any]:
    return _only(platform_template, "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]


def test_console_bucket_is_private_and_read_only_through_origin_access_control(
    platform_template: Template, distribution: dict[str, Any]
) -> None:
    oac = _only(platform_template, "AWS::CloudFront::OriginAccessControl")["Properties"]["OriginAccessControlConfig"]
    assert oac["OriginAccessControlOriginType"] == "s3"
    assert oac["SigningBehavior"] == "always"
    s3_origin = next(o for o in distribution["Origins"] if "S3OriginConfig" in o)
    assert s3_origin["OriginAccessControlId"]
    assert s3_origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # no legacy identity, no website endpoint
    # Only CloudFront, for this distribution, may read the console's files.
    policies = platform_template.find_resources("AWS::S3::BucketPolicy")
    statements = [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]
    reads = [s for s in statements if s.get("Principal") == {"Service": "cloudfront.amazonaws.com"}]
    assert reads
    assert all(s["Action"] == "s3:GetObject" for s in reads)
    assert all("AWS:SourceArn" in s["Condition"]["StringEquals"] for s in reads)


def test_every_behaviour_is_https_only_with_the_security_headers(distribution: dict[str, Any]) -> None:
    behaviours = [distribution["DefaultCacheBehavior"], *distribution["CacheBehaviors"]]
    assert {b["ViewerProtocolPolicy"] for b in behaviours} == {"https-only"}
    assert len({json.dumps(b["ResponseHeadersPolicyId"]) for b in behaviours}) == 1
    assert distribution["DefaultRootObject"] == "index.html"
    assert distribution["Logging"]["Bucket"]


def test_response_headers_carry_a_strict_csp_hsts_and_no_framing(platform_template: Template) -> None:
    config = _only(platform_template, "AWS::CloudFront::ResponseHeadersPolicy")["Properties"]
    security = config["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    csp = _joined(security["ContentSecurityPolicy"]["ContentSecurityPolicy"])
    for directive in ("default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    connect = next(d for d in csp.split("; ") if d.startswith("connect-src"))
    assert connect.split() == [  # its origin (the API), sign-in, presigned uploads: nothing else
        "connect-src",
        "'self'",
        "https://cognito-idp.us-east-1.amazonaws.com",
        "https://*.s3.us-east-1.amazonaws.com",
        "https://*.s3.amazonaws.com",
    ]
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
    assert security["FrameOptions"]["FrameOption"] == "DENY"
    assert security["ContentTypeOptions"] == {"Override": True}
    assert security["ReferrerPolicy"]["ReferrerPolicy"] == "no-referrer"


def test_api_is_served_under_the_console_origin_with_the_id_token_forwarded(
    platform_template: Template, distribution: dict[str, Any]
) -> None:
    (api,) = [b for b in distribution["CacheBehaviors"] if b["PathPattern"] == "/api/*"]
    assert set(api["AllowedMethods"]) >= {"GET", "POST", "PUT", "DELETE", "OPTIONS"}
    api_origin = next(o for o in distribution["Origins"] if o["Id"] == api["TargetOriginId"])
    assert api_origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert api_origin["OriginPath"] == "/prod"
    assert "execute-api" in json.dumps(api_origin["DomainName"])
    cache = _only(platform_template, "AWS::CloudFront::CachePolicy")["Properties"]["CachePolicyConfig"]
    assert cache["ParametersInCacheKeyAndForwardedToOrigin"]["HeadersConfig"]["Headers"] == ["Authorization"]
    assert cache["DefaultTTL"] == 0
    assert cache["MaxTTL"] <= 1


def test_config_json_is_written_at_deploy_from_the_stacks_own_ids(platform_template: Template) -> None:
    deployments = platform_template.find_resources("Custom::CDKBucketDeployment")
    console = [d for d in deployments.values() if "Console" in json.dumps(d["Properties"]["DestinationBucketName"])]
    assert len(console) == 1
    markers = [m for source in console[0]["Properties"]["SourceMarkers"] for m in source.values()]
    # config.json's placeholders are filled at deploy: the distribution's domain (the API under the console's
    # origin), the vendor user pool and its app client.
    filled = {json.dumps(m["Fn::Join"][1][1]) for m in markers}
    pool = next(k for k, v in platform_template.find_resources("AWS::Cognito::UserPool").items())
    client = next(k for k in platform_template.find_resources("AWS::Cognito::UserPoolClient"))
    dist = next(k for k in platform_template.find_resources("AWS::CloudFront::Distribution"))
    assert filled == {
        json.dumps({"Fn::GetAtt": [dist, "DomainName"]}),
        json.dumps({"Ref": pool}),
        json.dumps({"Ref": client}),
    }
    assert console[0]["Properties"]["DistributionPaths"] == ["/index.html", "/config.json"]


def test_console_url_is_an_output_and_its_origin_is_published_for_tenant_stacks(platform_template: Template) -> None:
    assert Outputs.CONSOLE_URL in platform_template.find_outputs("*")
    platform_template.has_resource_properties("AWS::SSM::Parameter", {"Name": console_origin_parameter()})


def test_tenant_knowledge_bucket_accepts_the_consoles_presigned_uploads_from_its_origin_only(
    tenant_template: Template,
) -> None:
    buckets = tenant_template.find_resources(
        "AWS::S3::Bucket", {"Properties": {"CorsConfiguration": Match.any_value()}}
    )
    assert len(buckets) == 1
    (rule,) = next(iter(buckets.values()))["Properties"]["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedMethods"] == ["POST"]
    (origin,) = rule["AllowedOrigins"]
    assert "Ref" in origin  # the SSM parameter the platform publishes, resolved at deploy
    params = tenant_template.to_json()["Parameters"]
    assert params[origin["Ref"]]["Default"] == console_origin_parameter()


def test_console_hosting_is_cdk_nag_clean_with_reasons(synthesized: Synthesized) -> None:
    assert not [v for v in synthesized.nag_violations() if "/Console" in v or "BucketDeployment" in v]
    reasons = [
        a["reason"] if "reason" in a else json.dumps(a)
        for a in synthesized.nag_acknowledgements()
        if "Console" in json.dumps(a)
    ]
    assert reasons
    assert all(len(r) > 40 for r in reasons)
