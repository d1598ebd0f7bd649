// Sign-in with the vendor user pool: SRP (the password never leaves the browser) and TOTP MFA, as the pool
// requires. Tokens live in this module's memory only: the SDK is given an in-memory Storage, so nothing is
// written to localStorage or cookies; a reload signs the user out.
import {
  AuthenticationDetails,
  CognitoUser,
  CognitoUserPool,
  CognitoUserSession,
  type ICognitoStorage,
} from "amazon-cognito-identity-js";
import type { ConsoleConfig } from "./config";

class MemoryStorage implements ICognitoStorage {
  private items = new Map<string, string>();
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
  clear(): void {
    this.items.clear();
  }
}

export type SignInStep =
  | { kind: "signed_in"; email: string }
  | { kind: "totp" } // enter the code from the authenticator app
  | { kind: "totp_setup"; secret: string; email: string } // first sign-in: add the key to an authenticator app
  | { kind: "new_password" }; // invited user: choose a password

const storage = new MemoryStorage();
let idToken: string | null = null;
let signedInEmail: string | null = null;
let pending: CognitoUser | null = null;
let pool: CognitoUserPool | null = null;

export function configure(config: ConsoleConfig): void {
  pool = new CognitoUserPool({
    UserPoolId: config.userPoolId,
    ClientId: config.userPoolClientId,
    Storage: storage,
    endpoint: config.cognitoEndpoint,
  });
}

export function currentIdToken(): string | null {
  return idToken;
}

export function currentEmail(): string | null {
  return signedInEmail;
}

export function signOut(): void {
  idToken = null;
  signedInEmail = null;
  pending = null;
  storage.clear();
}

function words(error: unknown): Error {
  const e = error as { code?: string; name?: string; message?: string };
  const code = e?.code || e?.name || "";
  const known: Record<string, string> = {
    NotAuthorizedException: "The e-mail address or password is not right.",
    UserNotFoundException: "The e-mail address or password is not right.",
    CodeMismatchException: "That code is not right. Enter the 6 digits your authenticator app shows now.",
    ExpiredCodeException: "That code has expired. Enter the one your authenticator app shows now.",
    EnableSoftwareTokenMFAException: "That code is not right. Enter the 6 digits your authenticator app shows now.",
    PasswordResetRequiredException: "Your password must be reset: ask your Oratio operator.",
    TooManyRequestsException: "Too many attempts. Wait a minute and try again.",
    InvalidPasswordException: e?.message || "That password does not meet the pool's rules.",
  };
  if (known[code]) return new Error(known[code]);
  if (e?.message === "Network error" || e?.message?.includes("fetch")) {
    return new Error("The sign-in service could not be reached. Check your connection and try again.");
  }
  return new Error(e?.message ? `Sign-in failed: ${e.message}` : "Sign-in failed.");
}

function accept(session: CognitoUserSession, email: string, resolve: (s: SignInStep) => void): void {
  idToken = session.getIdToken().getJwtToken();
  signedInEmail = email;
  pending = null;
  resolve({ kind: "signed_in", email });
}

function callbacks(user: CognitoUser, email: string, resolve: (s: SignInStep) => void, reject: (e: Error) => void) {
  return {
    onSuccess: (session: CognitoUserSession) => accept(session, email, resolve),
    onFailure: (err: unknown) => reject(words(err)),
    totpRequired: () => {
      pending = user;
      resolve({ kind: "totp" });
    },
    newPasswordRequired: () => {
      pending = user;
      resolve({ kind: "new_password" });
    },
    mfaSetup: () => {
      pending = user;
      user.associateSoftwareToken({
        associateSecretCode: (secret: string) => resolve({ kind: "totp_setup", secret, email }),
        onFailure: (err: unknown) => reject(words(err)),
      });
    },
  };
}

export function signIn(email: string, password: string): Promise<SignInStep> {
  if (!pool) return Promise.reject(new Error("The console is not configured yet."));
  const user = new CognitoUser({ Username: email, Pool: pool, Storage: storage });
  user.setAuthenticationFlowType("USER_SRP_AUTH");
  return new Promise((resolve, reject) => {
    user.authenticateUser(
      new AuthenticationDetails({ Username: email, Password: password }),
      callbacks(user, email, resolve, reject),
    );
  });
}

function pendingUser(): CognitoUser {
  if (!pending) throw new Error("Start again: enter your e-mail address and password.");
  return pending;
}

export function answerTotp(code: string): Promise<SignInStep> {
  const user = pendingUser();
  const email = user.getUsername();
  return new Promise((resolve, reject) =>
    user.sendMFACode(code, callbacks(user, email, resolve, reject), "SOFTWARE_TOKEN_MFA"),
  );
}

export function finishTotpSetup(code: string): Promise<SignInStep> {
  const user = pendingUser();
  const email = user.getUsername();
  return new Promise((resolve, reject) =>
    user.verifySoftwareToken(code, "Oratio console", {
      onSuccess: (session: CognitoUserSession) => accept(session, email, resolve),
      onFailure: (err: unknown) => reject(words(err)),
    }),
  );
}

export function setNewPassword(password: string): Promise<SignInStep> {
  const user = pendingUser();
  const email = user.getUsername();
  return new Promise((resolve, reject) =>
    user.completeNewPasswordChallenge(password, {}, callbacks(user, email, resolve, reject)),
  );
}
