// Sign-in: e-mail and password (SRP), then the TOTP code; first sign-in adds the key to an authenticator app
// and invited users choose a password.
import { useEffect, useRef, useState } from "preact/hooks";
import { answerTotp, finishTotpSetup, setNewPassword, signIn, type SignInStep } from "../auth";
import { ErrorBanner } from "../ui";

export function SignInPage({ onSignedIn, notice }: { onSignedIn: (email: string) => void; notice?: string | null }) {
  const [step, setStep] = useState<SignInStep | null>(null);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const focus = useRef<HTMLInputElement>(null);
  useEffect(() => focus.current?.focus(), [step?.kind]);

  async function go(work: () => Promise<SignInStep>) {
    setBusy(true);
    setError(null);
    try {
      const next = await work();
      if (next.kind === "signed_in") onSignedIn(next.email);
      else {
        setCode("");
        setStep(next);
      }
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  const submit = (event: Event) => {
    event.preventDefault();
    if (!step) go(() => signIn(email.trim(), password));
    else if (step.kind === "totp") go(() => answerTotp(code.trim()));
    else if (step.kind === "totp_setup") go(() => finishTotpSetup(code.trim()));
    else if (step.kind === "new_password") go(() => setNewPassword(password));
  };

  return (
    <main id="main" class="signin">
      <h1>Sign in to Oratio</h1>
      {notice && <p role="status">{notice}</p>}
      <form class="form" onSubmit={submit} aria-label="Sign in">
        {!step && (
          <>
            <label>
              E-mail address
              <input ref={focus} type="email" autoComplete="username" value={email} onInput={(e) => setEmail(e.currentTarget.value)} required />
            </label>
            <label>
              Password
              <input type="password" autoComplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} required />
            </label>
          </>
        )}
        {step?.kind === "new_password" && (
          <label>
            Choose a new password
            <input ref={focus} type="password" autoComplete="new-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} required />
          </label>
        )}
        {step?.kind === "totp_setup" && (
          <p>
            Add this key to your authenticator app, then enter the code it shows: <code class="secret">{step.secret}</code>
          </p>
        )}
        {(step?.kind === "totp" || step?.kind === "totp_setup") && (
          <label>
            Code from your authenticator app
            <input
              ref={focus}
              inputMode="numeric"
              autoComplete="one-time-code"
              pattern="[0-9]{6}"
              maxLength={6}
              value={code}
              onInput={(e) => setCode(e.currentTarget.value)}
              required
            />
          </label>
        )}
        <ErrorBanner error={error} />
        <button type="submit" disabled={busy}>
          {step ? "Continue" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
