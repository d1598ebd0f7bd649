// Runtime settings, fetched once at start from /config.json (written at deploy by the platform stack, so one
// build serves every environment).

export interface ConsoleConfig {
  apiBaseUrl: string; // the vendor API stage URL, e.g. https://abc.execute-api.eu-west-1.amazonaws.com/prod
  userPoolId: string;
  userPoolClientId: string;
  region: string;
  // Only the local mode sets this: the Cognito stand-in's address (`make console`, the browser tests).
  cognitoEndpoint?: string;
}

const REQUIRED: (keyof ConsoleConfig)[] = ["apiBaseUrl", "userPoolId", "userPoolClientId", "region"];

export async function loadConfig(url = "/config.json"): Promise<ConsoleConfig> {
  let response: Response;
  try {
    response = await fetch(url, { cache: "no-store" });
  } catch {
    throw new Error(`The console could not load its settings (${url}): the network request failed.`);
  }
  if (!response.ok) {
    throw new Error(`The console could not load its settings (${url}): the server answered ${response.status}.`);
  }
  let data: Record<string, unknown>;
  try {
    data = (await response.json()) as Record<string, unknown>;
  } catch {
    throw new Error(`The console's settings (${url}) are not JSON.`);
  }
  const missing = REQUIRED.filter((key) => typeof data[key] !== "string" || !(data[key] as string));
  if (missing.length) {
    throw new Error(`The console's settings (${url}) lack ${missing.join(", ")}.`);
  }
  return {
    apiBaseUrl: (data.apiBaseUrl as string).replace(/\/+$/, ""),
    userPoolId: data.userPoolId as string,
    userPoolClientId: data.userPoolClientId as string,
    region: data.region as string,
    cognitoEndpoint: typeof data.cognitoEndpoint === "string" ? data.cognitoEndpoint : undefined,
  };
}
