// The vendor API's shapes the console reads (docs/openapi.json is the reference).

export interface ChannelState {
  channel_type: string;
  status: string;
  detail?: string | null;
}

export interface AgentView {
  id: string;
  name: string;
  description: string;
  business_type: string;
  status: string;
  version: number;
  channels: ChannelState[];
  character_config: Record<string, unknown> & { business_name: string; tone?: string };
  context: { store_hours?: string | null; contact_info?: string | null; website?: string | null };
  definition: Record<string, unknown>;
  live_version: number | null;
  latest_version: number;
  allowed_actions: string[];
  phone_number?: string | null;
  created_at: string;
  updated_at: string;
}

export interface AgentPage {
  items: AgentView[];
  total: number;
  next_skip: number | null;
}

export interface VersionSummary {
  version: number;
  author: string;
  note: string;
  source: string;
  created_at: string;
  live: boolean;
}

export interface VersionPage {
  items: VersionSummary[];
  latest_version: number;
  live_version: number | null;
}

export interface VersionView extends VersionSummary {
  spec: Record<string, unknown>;
}

export interface FieldChange {
  path: string;
  change: string;
  before?: unknown;
  after?: unknown;
}

export interface VersionDiff {
  from_version: number;
  to_version: number;
  changes: FieldChange[];
}

export interface KnowledgeDocument {
  document_id: string;
  file_name: string;
  content_type: string;
  size_bytes: number;
  status: "awaiting_upload" | "uploaded" | "ingesting" | "indexed" | "failed";
  detail: string | null;
  created_at: string;
  updated_at: string;
}

export interface KnowledgeUpload {
  document: KnowledgeDocument;
  upload: { url: string; fields: Record<string, string>; expires_at: string; method?: string };
}

export interface ConversationSummary {
  conversation_id: string;
  channel: string;
  status: string;
  started_at: string;
  ended_at?: string | null;
  outcome?: string | null;
  duration_seconds?: number | null;
  caller_number?: string | null;
  voice_tier?: string | null;
}

export interface ConversationPage {
  items: ConversationSummary[];
  next_token: string | null;
}

export interface TurnView {
  sequence: number;
  at: string;
  user_text: string | null;
  agent_text: string;
  model_id: string | null;
  role: string;
  latency_ms: number;
  cost_usd: number;
  tools: string[]; // names of the tools the agent called in this turn
  outcome: string; // ok | fallback | failed
}

export interface ConversationDetail {
  conversation: ConversationSummary;
  turns: TurnView[];
  total_cost_usd: number;
}

export interface ConversationCosts {
  lines: { category: string; item: string; usd: number; estimated: boolean }[];
  total_usd: number;
}

export interface UsageReport {
  from: string;
  to: string;
  group_by: string;
  lines: { key: string; usd: number }[];
  total_usd: number;
}
