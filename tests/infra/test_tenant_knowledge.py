"""TenantStack → TenantKnowledge: documents bucket, S3 Vectors bucket and index, the Bedrock knowledge
base on S3 Vectors with its S3 data source, and a Bedrock role scoped to this tenant's resources."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from oratio.config import load_tenant_file
from oratio.config.tenant import TENANT_ID_PATTERN
from stacks.constructs.knowledge import vector_bucket_name
from stacks.constructs.knowledge_documents import STAGING_DIR
from stacks.names import Outputs, tenant_parameter

TENANT = "cozy-comfort"
TENANTS = Path(__file__).resolve().parents[2] / "tenants"
TITAN_V2 = "foundation-model/amazon.titan-embed-text-v2:0"


def _only(template: Template, resource_type: str) -> tuple[str, dict[str, Any]]:
    found = template.find_resources(resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {len(found)}"
    return next(iter(found.items()))


@pytest.fixture(scope="module")
def knowledge_base(tenant_template: Template) -> dict[str, Any]:
    return _only(tenant_template, "AWS::Bedrock::KnowledgeBase")[1]["Properties"]


@pytest.fixture(scope="module")
def documents_bucket_id(tenant_template: Template) -> str:
    _, source = _only(tenant_template, "AWS::Bedrock::DataSource")
    return str(source["Properties"]["DataSourceConfiguration"]["S3Configuration"]["BucketArn"]["Fn::GetAtt"][0])


@pytest.fixture(scope="module")
def role_statements(tenant_template: Template, knowledge_base: dict[str, Any]) -> list[dict[str, Any]]:
    role_id = knowledge_base["RoleArn"]["Fn::GetAtt"][0]
    policies = tenant_template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role_id}]}})
    return [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]


def test_vector_bucket_is_named_for_the_tenant_within_s3_vectors_rules(tenant_template: Template) -> None:
    tenant_template.has_resource_properties(
        "AWS::S3Vectors::VectorBucket", {"VectorBucketName": "oratio-cozy-comfort-vectors"}
    )


@pytest.mark.parametrize("tenant_id", ["abc", "cozy-comfort", "a" + "b" * 38 + "c"])
def test_every_valid_tenant_id_gives_a_legal_vector_bucket_name(tenant_id: str) -> None:
    assert re.fullmatch(TENANT_ID_PATTERN, tenant_id)
    name = vector_bucket_name(tenant_id)
    assert 3 <= len(name) <= 63
    assert name == name.lower()


def test_index_matches_titan_v2_1024_cosine_and_keeps_bedrock_text_non_filterable(
    tenant_template: Template,
) -> None:
    bucket_id, _ = _only(tenant_template, "AWS::S3Vectors::VectorBucket")
    tenant_template.has_resource_properties(
        "AWS::S3Vectors::Index",
        {
            "VectorBucketArn": {"Fn::GetAtt": [bucket_id, "VectorBucketArn"]},
            "Dimension": 1024,
            "DistanceMetric": "cosine",
            "DataType": "float32",
            "MetadataConfiguration": {"NonFilterableMetadataKeys": ["AMAZON_BEDROCK_TEXT", "AMAZON_BEDROCK_METADATA"]},
        },
    )


def test_knowledge_base_embeds_with_titan_v2_and_stores_in_the_tenant_index(
    tenant_template: Template, knowledge_base: dict[str, Any]
) -> None:
    index_id, _ = _only(tenant_template, "AWS::S3Vectors::Index")
    vector = knowledge_base["KnowledgeBaseConfiguration"]
    assert vector["Type"] == "VECTOR"
    assert TITAN_V2 in json.dumps(vector["VectorKnowledgeBaseConfiguration"]["EmbeddingModelArn"])
    dims = vector["VectorKnowledgeBaseConfiguration"]["EmbeddingModelConfiguration"]
    assert dims["BedrockEmbeddingModelConfiguration"]["Dimensions"] == 1024
    storage = knowledge_base["StorageConfiguration"]
    assert storage["Type"] == "S3_VECTORS"
    assert storage["S3VectorsConfiguration"]["IndexArn"] == {"Fn::GetAtt": [index_id, "IndexArn"]}


def test_data_source_reads_the_documents_bucket_in_500_token_chunks_with_20_percent_overlap(
    tenant_template: Template, documents_bucket_id: str
) -> None:
    kb_id, _ = _only(tenant_template, "AWS::Bedrock::KnowledgeBase")
    tenant_template.has_resource_properties(
        "AWS::Bedrock::DataSource",
        {
            "KnowledgeBaseId": {"Fn::GetAtt": [kb_id, "KnowledgeBaseId"]},
            "DataSourceConfiguration": Match.object_like({"Type": "S3"}),
            "VectorIngestionConfiguration": {
                "ChunkingConfiguration": {
                    "ChunkingStrategy": "FIXED_SIZE",
                    "FixedSizeChunkingConfiguration": {"MaxTokens": 500, "OverlapPercentage": 20},
                }
            },
        },
    )
    assert documents_bucket_id in tenant_template.to_json()["Resources"]


def test_documents_bucket_is_encrypted_versioned_private_and_tls_only(
    tenant_template: Template, documents_bucket_id: str
) -> None:
    props = tenant_template.to_json()["Resources"][documents_bucket_id]["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert "ServerSideEncryptionConfiguration" in props["BucketEncryption"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    tenant_template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": documents_bucket_id},
            "PolicyDocument": Match.object_like(
                {
                    "Statement": Match.array_with(
                        [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                    )
                }
            ),
        },
    )


def test_only_bedrock_in_this_account_may_assume_the_knowledge_base_role(
    tenant_template: Template, knowledge_base: dict[str, Any]
) -> None:
    role = tenant_template.to_json()["Resources"][knowledge_base["RoleArn"]["Fn::GetAtt"][0]]
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "bedrock.amazonaws.com"}
    assert "aws:SourceAccount" in statement["Condition"]["StringEquals"]
    assert "knowledge-base/*" in json.dumps(statement["Condition"]["ArnLike"]["aws:SourceArn"])


def test_knowledge_base_role_is_allowed_exactly_the_tenants_model_bucket_and_index(
    tenant_template: Template, role_statements: list[dict[str, Any]], documents_bucket_id: str
) -> None:
    index_id, _ = _only(tenant_template, "AWS::S3Vectors::Index")
    by_sid = {s["Sid"]: s for s in role_statements}
    assert set(by_sid) == {
        "EmbedWithTheTenantModel",
        "ListKnowledgeDocuments",
        "ReadKnowledgeDocuments",
        "UseTheTenantVectorIndex",
    }
    assert by_sid["EmbedWithTheTenantModel"]["Action"] == "bedrock:InvokeModel"
    assert TITAN_V2 in json.dumps(by_sid["EmbedWithTheTenantModel"]["Resource"])
    assert by_sid["ListKnowledgeDocuments"]["Resource"] == {"Fn::GetAtt": [documents_bucket_id, "Arn"]}
    assert documents_bucket_id in json.dumps(by_sid["ReadKnowledgeDocuments"]["Resource"])
    assert by_sid["ReadKnowledgeDocuments"]["Action"] == "s3:GetObject"
    assert sorted(by_sid["UseTheTenantVectorIndex"]["Action"]) == sorted(
        [
            "s3vectors:GetIndex",
            "s3vectors:PutVectors",
            "s3vectors:GetVectors",
            "s3vectors:DeleteVectors",
            "s3vectors:QueryVectors",
        ]
    )
    assert by_sid["UseTheTenantVectorIndex"]["Resource"] == {"Fn::GetAtt": [index_id, "IndexArn"]}
    assert all(s["Resource"] != "*" for s in role_statements)


@pytest.mark.parametrize(
    ("name", "resource_type", "attribute"),
    [
        ("knowledge/knowledge-base-id", "AWS::Bedrock::KnowledgeBase", "KnowledgeBaseId"),
        ("knowledge/data-source-id", "AWS::Bedrock::DataSource", "DataSourceId"),
        ("knowledge/index-arn", "AWS::S3Vectors::Index", "IndexArn"),
    ],
)
def test_knowledge_ids_are_published_to_ssm(
    tenant_template: Template, name: str, resource_type: str, attribute: str
) -> None:
    logical_id, _ = _only(tenant_template, resource_type)
    tenant_template.has_resource_properties(
        "AWS::SSM::Parameter",
        {"Name": tenant_parameter(TENANT, name), "Value": {"Fn::GetAtt": [logical_id, attribute]}},
    )


def test_bucket_names_are_published_to_ssm_and_outputs(tenant_template: Template, documents_bucket_id: str) -> None:
    tenant_template.has_resource_properties(
        "AWS::SSM::Parameter",
        {"Name": tenant_parameter(TENANT, "knowledge/bucket-name"), "Value": {"Ref": documents_bucket_id}},
    )
    tenant_template.has_resource_properties(
        "AWS::SSM::Parameter",
        {
            "Name": tenant_parameter(TENANT, "knowledge/vector-bucket-name"),
            "Value": "oratio-cozy-comfort-vectors",
        },
    )
    outputs = tenant_template.to_json()["Outputs"]
    assert outputs[Outputs.KNOWLEDGE_BUCKET]["Value"] == {"Ref": documents_bucket_id}
    assert outputs[Outputs.VECTOR_BUCKET]["Value"] == "oratio-cozy-comfort-vectors"
    assert outputs[Outputs.KNOWLEDGE_BASE_ID]["Value"]["Fn::GetAtt"][1] == "KnowledgeBaseId"


def test_the_tenant_files_knowledge_is_uploaded_as_tenant_wide_documents_and_ingested(
    tenant_template: Template, documents_bucket_id: str
) -> None:
    tenant_template.has_resource_properties(
        "Custom::CDKBucketDeployment",
        {
            "DestinationBucketName": {"Ref": documents_bucket_id},
            "DestinationBucketKeyPrefix": "tenant/",
            "Prune": True,
        },
    )
    staged = STAGING_DIR / TENANT
    tenant = load_tenant_file(TENANTS / f"{TENANT}.yaml")
    for source in tenant.knowledge.sources:
        assert source.path is not None
        name = f"{source.name}{Path(source.path).suffix}"
        assert (staged / name).read_bytes() == (TENANTS / source.path).read_bytes()
        assert json.loads((staged / f"{name}.metadata.json").read_text()) == {
            "metadataAttributes": {"oratio_scope": "tenant"}
        }
    ingest = next(
        r
        for r in tenant_template.find_resources("Custom::AWS").values()
        if "StartIngestionJob" in json.dumps(r["Properties"]["Create"])
    )
    create = json.dumps(ingest["Properties"]["Create"])
    assert '\\"service\\":\\"bedrock-agent\\"' in create
    assert "ConflictException" in create  # a running job syncs the whole bucket: not an error
