"""The tenant's knowledge: an S3 bucket of source documents, an S3 Vectors bucket and index, and the
Bedrock knowledge base (on S3 Vectors) with its S3 data source that the tenant agent retrieves from.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, ArnFormat, CfnOutput, Stack, Validations
from aws_cdk import aws_bedrock as bedrock
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3vectors as s3vectors
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from oratio.config import TenantConfig, load_model_catalog
from oratio.knowledge_names import VECTOR_INDEX_NAME, vector_bucket_name
from stacks.constructs.storage import access_log_bucket, private_bucket, publish_tenant_parameters
from stacks.names import PROJECT, Outputs, console_origin_parameter

INDEX_NAME = VECTOR_INDEX_NAME
# Bedrock writes each chunk's text and its metadata into these keys. S3 Vectors caps filterable
# metadata at 2 KB per vector, so both must be non-filterable or ingestion fails on PutVectors.
BEDROCK_NON_FILTERABLE_KEYS = ("AMAZON_BEDROCK_TEXT", "AMAZON_BEDROCK_METADATA")
CHUNK_MAX_TOKENS = 500
CHUNK_OVERLAP_PERCENT = 20
# How long a browser may keep the answer to the console's upload preflight.
CONSOLE_UPLOAD_CORS_MAX_AGE_SECONDS = 3000
# The S3 Vectors actions a knowledge base uses on its index (ingest, sync deletes, retrieve).
VECTOR_INDEX_ACTIONS = (
    "s3vectors:GetIndex",
    "s3vectors:PutVectors",
    "s3vectors:GetVectors",
    "s3vectors:DeleteVectors",
    "s3vectors:QueryVectors",
)


class TenantKnowledge(Construct):
    """Everything behind the agent's knowledge search for one tenant.

    Public attributes: `bucket` (source documents), `vector_bucket`, `index`, `role` (assumed by
    Bedrock), `knowledge_base`, `data_source`, `embedding_model_arn`.
    """

    def __init__(self, scope: Construct, construct_id: str, *, tenant: TenantConfig) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        tid = tenant.tenant_id
        embedding = load_model_catalog().embedding_model(tenant.knowledge.embedding_model)
        self.embedding_model_arn = stack.format_arn(
            service="bedrock",
            account="",  # foundation models are AWS-owned: no account in their ARN
            resource="foundation-model",
            resource_name=embedding.bedrock_model_id,
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )

        self.bucket = self._source_bucket(tid)

        self.vector_bucket = s3vectors.CfnVectorBucket(
            self,
            "VectorBucket",
            vector_bucket_name=vector_bucket_name(tid),
            encryption_configuration=s3vectors.CfnVectorBucket.EncryptionConfigurationProperty(sse_type="AES256"),
        )
        self.index = s3vectors.CfnIndex(
            self,
            "VectorIndex",
            vector_bucket_arn=self.vector_bucket.attr_vector_bucket_arn,
            index_name=INDEX_NAME,
            data_type="float32",
            dimension=tenant.knowledge.dimensions,
            distance_metric="cosine",  # what Titan Text Embeddings V2 is trained for
            metadata_configuration=s3vectors.CfnIndex.MetadataConfigurationProperty(
                non_filterable_metadata_keys=list(BEDROCK_NON_FILTERABLE_KEYS)
            ),
        )

        self.role = self._knowledge_base_role(tid)

        self.knowledge_base = bedrock.CfnKnowledgeBase(
            self,
            "KnowledgeBase",
            name=f"{PROJECT}-{tid}-knowledge",
            description=f"What {tenant.business.name}'s agents know: products, policies, FAQs",
            role_arn=self.role.role_arn,
            knowledge_base_configuration=bedrock.CfnKnowledgeBase.KnowledgeBaseConfigurationProperty(
                type="VECTOR",
                vector_knowledge_base_configuration=bedrock.CfnKnowledgeBase.VectorKnowledgeBaseConfigurationProperty(
                    embedding_model_arn=self.embedding_model_arn,
                    embedding_model_configuration=bedrock.CfnKnowledgeBase.EmbeddingModelConfigurationProperty(
                        bedrock_embedding_model_configuration=bedrock.CfnKnowledgeBase.BedrockEmbeddingModelConfigurationProperty(
                            dimensions=tenant.knowledge.dimensions,
                            embedding_data_type="FLOAT32",
                        )
                    ),
                ),
            ),
            storage_configuration=bedrock.CfnKnowledgeBase.StorageConfigurationProperty(
                type="S3_VECTORS",
                s3_vectors_configuration=bedrock.CfnKnowledgeBase.S3VectorsConfigurationProperty(
                    vector_bucket_arn=self.vector_bucket.attr_vector_bucket_arn,
                    index_arn=self.index.attr_index_arn,
                ),
            ),
        )
        # Bedrock checks the role's permissions when it creates the knowledge base: policy first.
        policy = self.role.node.try_find_child("DefaultPolicy")
        if policy is not None:
            self.knowledge_base.node.add_dependency(policy)

        self.data_source = bedrock.CfnDataSource(
            self,
            "DataSource",
            knowledge_base_id=self.knowledge_base.attr_knowledge_base_id,
            name=f"{PROJECT}-{tid}-documents",
            description=f"Documents uploaded to {tid}'s knowledge bucket",
            data_source_configuration=bedrock.CfnDataSource.DataSourceConfigurationProperty(
                type="S3",
                s3_configuration=bedrock.CfnDataSource.S3DataSourceConfigurationProperty(
                    bucket_arn=self.bucket.bucket_arn,
                    bucket_owner_account_id=stack.account,
                ),
            ),
            vector_ingestion_configuration=bedrock.CfnDataSource.VectorIngestionConfigurationProperty(
                chunking_configuration=bedrock.CfnDataSource.ChunkingConfigurationProperty(
                    chunking_strategy="FIXED_SIZE",
                    fixed_size_chunking_configuration=bedrock.CfnDataSource.FixedSizeChunkingConfigurationProperty(
                        max_tokens=CHUNK_MAX_TOKENS, overlap_percentage=CHUNK_OVERLAP_PERCENT
                    ),
                )
            ),
        )

        publish_tenant_parameters(
            self,
            tid,
            {
                "knowledge/bucket-name": self.bucket.bucket_name,
                "knowledge/knowledge-base-id": self.knowledge_base.attr_knowledge_base_id,
                "knowledge/data-source-id": self.data_source.attr_data_source_id,
                "knowledge/vector-bucket-name": vector_bucket_name(tid),
                "knowledge/index-arn": self.index.attr_index_arn,
            },
        )
        # Outputs hang off the stack so their logical ids are exactly the fixed names.
        CfnOutput(stack, Outputs.KNOWLEDGE_BUCKET, value=self.bucket.bucket_name)
        CfnOutput(stack, Outputs.KNOWLEDGE_BASE_ID, value=self.knowledge_base.attr_knowledge_base_id)
        CfnOutput(stack, Outputs.VECTOR_BUCKET, value=vector_bucket_name(tid))

    def _source_bucket(self, tenant_id: str) -> s3.Bucket:
        """Encrypted, versioned, TLS-only bucket for the documents vendors upload.

        SSE-S3 keeps Bedrock's ingestion free of KMS grants; documents are the vendor's public-facing
        product and policy texts, not customer data.
        """
        return private_bucket(
            self,
            "Documents",
            access_logs=access_log_bucket(self, "DocumentsAccessLogs"),
            log_prefix=f"{tenant_id}-documents/",
            # The vendor console uploads with the API's presigned POST from its own origin (published by the
            # platform stack): the browser must be allowed to send it and read S3's answer. The presigned
            # policy, not CORS, is what authorizes the write.
            cors=[
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.POST],
                    allowed_origins=[ssm.StringParameter.value_for_string_parameter(self, console_origin_parameter())],
                    allowed_headers=["*"],
                    max_age=CONSOLE_UPLOAD_CORS_MAX_AGE_SECONDS,
                )
            ],
        )

    def _knowledge_base_role(self, tenant_id: str) -> iam.Role:
        """The role Bedrock assumes for this knowledge base: exactly what ingestion and retrieval use."""
        stack = Stack.of(self)
        role = iam.Role(
            self,
            "KnowledgeBaseRole",
            description=f"Assumed by Amazon Bedrock for {tenant_id}'s knowledge base",
            assumed_by=iam.ServicePrincipal(
                "bedrock.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    # The knowledge base id is not known before the role exists; the account's
                    # knowledge bases are the narrowest scope that avoids a dependency cycle.
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="bedrock",
                            resource="knowledge-base",
                            resource_name="*",
                            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
                        )
                    },
                },
            ),
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="EmbedWithTheTenantModel",
                actions=["bedrock:InvokeModel"],
                resources=[self.embedding_model_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ListKnowledgeDocuments",
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringEquals": {"aws:ResourceAccount": stack.account}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadKnowledgeDocuments",
                actions=["s3:GetObject"],
                resources=[self.bucket.arn_for_objects("*")],
                conditions={"StringEquals": {"aws:ResourceAccount": stack.account}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="UseTheTenantVectorIndex",
                actions=list(VECTOR_INDEX_ACTIONS),
                resources=[self.index.attr_index_arn],
            )
        )
        bucket_resource = self.bucket.node.default_child
        assert isinstance(bucket_resource, s3.CfnBucket)
        # cdk-nag names the finding after the bucket's logical id; acknowledge exactly that one.
        bucket_logical_id = stack.resolve(stack.get_logical_id(bucket_resource))
        Validations.of(role).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{bucket_logical_id}.Arn>/*]",
                reason="Bedrock ingests every document in this tenant's own knowledge bucket, whose object "
                "keys vendors choose; GetObject is limited to that one bucket's objects.",
            )
        )
        return role
