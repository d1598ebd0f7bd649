// The API's 422 details shown beside the form: each field named, with the API's own message.
import { ApiError } from "./api";
import { ErrorBanner } from "./ui";

export function fieldError(error: unknown, field: string): string | null {
  if (!(error instanceof ApiError)) return null;
  const hit = error.details.find((d) => d.field === field || d.field.endsWith(`.${field}`));
  return hit ? hit.message : null;
}

export function FieldErrors({ error }: { error: unknown }) {
  if (!error) return null;
  if (error instanceof ApiError && error.details.length) {
    return (
      <div class="error" role="alert">
        <p>{error.message}</p>
        <ul>
          {error.details.map((d) => (
            <li key={`${d.field}:${d.type}`}>
              <strong>{d.field || "request"}</strong>: {d.message}
            </li>
          ))}
        </ul>
      </div>
    );
  }
  return <ErrorBanner error={error} />;
}
