// The AgentCreator routes' contract, kept apart so the page can be wired to the API as it lands:
//   POST /api/v1/agents/{agent_id}/sop      -> 202 CreatorJobAccepted (text/markdown, text/plain, or {"sop": ...})
//   GET  /api/v1/creator-jobs/{job_id}      -> CreatorJobDetail (stages, report, candidate version)
//   POST /api/v1/creator-jobs/{job_id}/retry -> 202 CreatorJobAccepted
// Approving is publishing the candidate version (candidate.publish, POST .../versions/{n}/publish).
import { api } from "../api";

export type JobStatus = "queued" | "running" | "succeeded" | "failed";
export const STAGES = [
  "sop_parser",
  "plan_drafter",
  "plan_reviewer",
  "code_generator",
  "code_reviewer",
  "test_writer",
  "gate",
  "s3_writer",
] as const;
export const STAGE_WORDS: Record<string, string> = {
  sop_parser: "Reading the SOP into requirements",
  plan_drafter: "Drafting a plan",
  plan_reviewer: "Reviewing the plan",
  code_generator: "Writing the agent",
  code_reviewer: "Checking the code",
  test_writer: "Writing test conversations",
  gate: "Running the test conversations",
  s3_writer: "Saving the candidate version",
};

export interface CreatorJobAccepted {
  job_id: string;
  agent_id: string;
  status: JobStatus;
  attempts: number;
  location: string;
}

export interface CreatorStage {
  stage: string;
  attempt: number;
  cycle: number;
  status: "running" | "succeeded" | "failed";
  started_at: string;
  finished_at?: string | null;
  model_id?: string | null;
  cost_usd: number;
  error?: string | null;
}

export interface RequirementTrace {
  requirement_id: string;
  kind: string;
  text: string;
  plan_elements: string[];
  definition_fields: string[];
  test_scripts: string[];
  gate: "passed" | "failed" | "untested";
}

export interface CreatorReport {
  traces?: RequirementTrace[];
  uncovered?: string[];
  gate_failures?: { name: string; covers: string[]; passed: boolean; failure?: string }[];
  review_cycles?: number;
  approved_plan?: boolean;
}

export interface CreatorJobDetail {
  job_id: string;
  agent_id: string;
  status: JobStatus;
  current_stage?: string | null;
  failed_stage?: string | null;
  error?: { stage: string; message: string; next_step: string; retryable: boolean } | null;
  attempts: number;
  cost_usd: number;
  created_at: string;
  updated_at: string;
  stages: CreatorStage[];
  report?: CreatorReport | null;
  candidate?: { version: number; diff: string; publish: string } | null;
  retry?: string | null;
}

export function submitSop(agentId: string, sop: string): Promise<CreatorJobAccepted> {
  return api<CreatorJobAccepted>("POST", `/api/v1/agents/${encodeURIComponent(agentId)}/sop`, { sop });
}

export function getJob(jobId: string): Promise<CreatorJobDetail> {
  return api<CreatorJobDetail>("GET", `/api/v1/creator-jobs/${encodeURIComponent(jobId)}`);
}

export function retryJob(job: CreatorJobDetail): Promise<CreatorJobAccepted> {
  return api<CreatorJobAccepted>("POST", job.retry ?? `/api/v1/creator-jobs/${encodeURIComponent(job.job_id)}/retry`);
}

export function approve(job: CreatorJobDetail): Promise<unknown> {
  if (!job.candidate) return Promise.reject(new Error("This job has not written a candidate version yet."));
  return api("POST", job.candidate.publish);
}
