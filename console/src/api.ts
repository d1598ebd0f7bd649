// The vendor API client: every request carries the ID token; a 401 signs the user out and returns to sign-in;
// every error becomes an ApiError with words a person can read (the API's message, and its field details).
import { currentIdToken, signOut } from "./auth";

export interface FieldProblem {
  field: string;
  message: string;
  type: string;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly details: FieldProblem[] = [],
    readonly body: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

let baseUrl = "";
let onUnauthenticated: () => void = () => {};

export function configureApi(apiBaseUrl: string, unauthenticated: () => void): void {
  baseUrl = apiBaseUrl;
  onUnauthenticated = unauthenticated;
}

const STATUS_WORDS: Record<number, string> = {
  400: "The request was not accepted.",
  403: "Your account may not do this.",
  404: "It was not found (it may have been deleted).",
  409: "It changed meanwhile or conflicts with its current state.",
  413: "It is too large.",
  422: "Some fields need attention.",
  429: "Too many requests: wait a moment and try again.",
  500: "The service failed. Try again; if it keeps failing, tell your Oratio operator.",
  502: "The service is unavailable right now. Try again in a minute.",
  503: "The service is unavailable right now. Try again in a minute.",
  504: "The service took too long to answer. Try again.",
};

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const token = currentIdToken();
  if (!token) {
    onUnauthenticated();
    throw new ApiError("Your session has ended. Sign in again.", 401, "unauthenticated");
  }
  const headers: Record<string, string> = { Authorization: token };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError("The Oratio API could not be reached. Check your connection and try again.", 0, "network");
  }
  const text = await response.text();
  let data: Record<string, unknown> = {};
  try {
    data = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    data = {};
  }
  if (response.status === 401) {
    signOut();
    onUnauthenticated();
    throw new ApiError("Your session has ended. Sign in again.", 401, "unauthenticated");
  }
  if (!response.ok) {
    const message = typeof data.message === "string" && data.message ? data.message : STATUS_WORDS[response.status];
    throw new ApiError(
      message || `The API answered ${response.status}.`,
      response.status,
      typeof data.error === "string" ? data.error : `http_${response.status}`,
      Array.isArray(data.details) ? (data.details as FieldProblem[]) : [],
      data,
    );
  }
  return data as T;
}

export function errorWords(error: unknown): string {
  if (error instanceof ApiError) {
    const fields = error.details.map((d) => `${d.field || "request"}: ${d.message}`);
    return fields.length ? `${error.message} ${fields.join("; ")}` : error.message;
  }
  return error instanceof Error ? error.message : "Something went wrong.";
}
