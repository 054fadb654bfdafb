/**
 * Errors in the Compute API's JSON format:
 * `{"error":{"code":404,"message":"...","errors":[{"message":"...","domain":"global","reason":"notFound"}]}}`.
 * Errors raised by Google's front end (authentication, rate limits, malformed JSON) also carry
 * `status` (the canonical code name); errors raised by Compute itself do not.
 */

/** One entry of `error.errors`. */
export interface GoogleErrorItem {
  message: string;
  domain: string;
  reason: string;
  location?: string;
  locationType?: string;
}

/** The `error` object of an error response. */
export interface GoogleErrorBody {
  code: number;
  message: string;
  errors: GoogleErrorItem[];
  status?: string;
  details?: Record<string, unknown>[];
}

/** An API failure the router turns into an error response. */
export class ComputeApiError extends Error {
  override readonly name = 'ComputeApiError';

  constructor(
    readonly status: number,
    message: string,
    readonly reason: string,
    readonly extra: {
      domain?: string;
      statusName?: string;
      location?: string;
      locationType?: string;
      details?: Record<string, unknown>[];
    } = {},
  ) {
    super(message);
  }

  /** The response body, exactly as Google shapes it. */
  toBody(): { error: GoogleErrorBody } {
    const item: GoogleErrorItem = {
      message: this.message,
      domain: this.extra.domain ?? 'global',
      reason: this.reason,
    };
    if (this.extra.location !== undefined) {
      item.location = this.extra.location;
    }
    if (this.extra.locationType !== undefined) {
      item.locationType = this.extra.locationType;
    }
    const error: GoogleErrorBody = { code: this.status, message: this.message, errors: [item] };
    if (this.extra.statusName !== undefined) {
      error.status = this.extra.statusName;
    }
    if (this.extra.details !== undefined) {
      error.details = this.extra.details;
    }
    return { error };
  }
}

/** Canonical code names of HTTP statuses (google.rpc.Code), as Google's front end reports them. */
export const STATUS_NAMES: Readonly<Record<number, string>> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  412: 'FAILED_PRECONDITION',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  501: 'UNIMPLEMENTED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/** `errors[0].reason` Compute uses for a status when nothing more specific applies. */
export function defaultReason(status: number): string {
  switch (status) {
    case 400:
      return 'invalid';
    case 401:
      return 'authError';
    case 403:
      return 'forbidden';
    case 404:
      return 'notFound';
    case 409:
      return 'alreadyExists';
    case 412:
      return 'conditionNotMet';
    case 429:
      return 'rateLimitExceeded';
    case 503:
      return 'backendError';
    default:
      return status >= 500 ? 'backendError' : 'invalid';
  }
}

/** Message Compute uses for a status when nothing more specific applies. */
export function defaultMessage(status: number, project: string): string {
  switch (status) {
    case 429:
      return (
        "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service " +
        `'compute.googleapis.com' for consumer 'project_number:${projectNumber(project)}'.`
      );
    case 500:
      return 'Internal error. Please try again or contact Google Support.';
    case 503:
      return 'The service is currently unavailable.';
    case 403:
      return `Required permission is missing for 'projects/${project}'`;
    default:
      return `Injected fault ${status}`;
  }
}

/** A stable 12-digit project number derived from the project id (it appears in some messages). */
export function projectNumber(project: string): string {
  let hash = 7;
  for (const ch of project) {
    hash = (hash * 31 + ch.charCodeAt(0)) % 1_000_000_000_000;
  }
  return String(100_000_000_000 + (hash % 900_000_000_000));
}

/** 404 for a missing resource, e.g. `projects/p/zones/z/instances/x`. */
export function notFound(resourcePath: string): ComputeApiError {
  return new ComputeApiError(404, `The resource '${resourcePath}' was not found`, 'notFound');
}

/** 400 `Invalid value for field '<field>': '<value>'. <why>` (Compute's validation message). */
export function invalidField(field: string, value: string, why: string): ComputeApiError {
  return new ComputeApiError(
    400,
    `Invalid value for field '${field}': '${value}'. ${why}`,
    'invalid',
  );
}

/** 400 `Required field '<field>' not specified`. */
export function requiredField(field: string): ComputeApiError {
  return new ComputeApiError(400, `Required field '${field}' not specified`, 'required');
}

/** 401 as Google's front end answers a call without credentials. */
export function loginRequired(): ComputeApiError {
  return new ComputeApiError(
    401,
    'Request is missing required authentication credential. Expected OAuth 2 access token, ' +
      'login cookie or other valid authentication credential. ' +
      'See https://developers.google.com/identity/sign-in/web/devconsole-project.',
    'required',
    {
      statusName: 'UNAUTHENTICATED',
      location: 'Authorization',
      locationType: 'header',
      details: [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'CREDENTIALS_MISSING',
          domain: 'googleapis.com',
          metadata: { service: 'compute.googleapis.com', method: 'compute.v1.InstancesService' },
        },
      ],
    },
  );
}

/** 401 for credentials that are present but unusable (expired or malformed token). */
export function invalidCredentials(): ComputeApiError {
  return new ComputeApiError(
    401,
    'Request had invalid authentication credentials. Expected OAuth 2 access token, login ' +
      'cookie or other valid authentication credential. ' +
      'See https://developers.google.com/identity/sign-in/web/devconsole-project.',
    'authError',
    {
      statusName: 'UNAUTHENTICATED',
      location: 'Authorization',
      locationType: 'header',
      details: [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'ACCESS_TOKEN_TYPE_UNSUPPORTED',
          domain: 'googleapis.com',
          metadata: { service: 'compute.googleapis.com' },
        },
      ],
    },
  );
}

/** 403 for a project the caller may not use. */
export function permissionDenied(permission: string, resourcePath: string): ComputeApiError {
  return new ComputeApiError(
    403,
    `Required '${permission}' permission for '${resourcePath}'`,
    'forbidden',
  );
}
