import type { EndpointName } from './fake-github.types';

/** Path of the Actions service (tenant) the fake hands out from `actions/runner-registration`. */
export const TENANT_PATH = '/tenant/123/';
/** Path of the message queue the fake hands out in sessions. */
export const MESSAGE_QUEUE_PATH = '/scalesets/message';

/** A request matched to a protocol endpoint, with its path parameters. */
export interface RouteMatch {
  endpoint: EndpointName;
  params: string[];
}

interface Route {
  method: string;
  pattern: RegExp;
  endpoint: EndpointName;
}

const SCALE_SETS = '/tenant/123/_apis/runtime/runnerscalesets';
const AGENTS = '/tenant/123/_apis/distributedtask/pools/0/agents';

function route(method: string, path: string, endpoint: EndpointName): Route {
  return { method, pattern: new RegExp(`^${path}$`), endpoint };
}

const ROUTES: Route[] = [
  route('POST', '/api/v3/app/installations/([^/]+)/access_tokens', 'installationToken'),
  route('POST', '/api/v3/(orgs)/([^/]+)/actions/runners/registration-token', 'registrationToken'),
  route(
    'POST',
    '/api/v3/(repos)/([^/]+/[^/]+)/actions/runners/registration-token',
    'registrationToken',
  ),
  route(
    'POST',
    '/api/v3/(enterprises)/([^/]+)/actions/runners/registration-token',
    'registrationToken',
  ),
  route('POST', '/api/v3/actions/runner-registration', 'runnerRegistration'),
  route('GET', '/tenant/123/_apis/runtime/runnergroups/?', 'getRunnerGroup'),
  route('GET', SCALE_SETS, 'getScaleSetByName'),
  route('POST', SCALE_SETS, 'createScaleSet'),
  route('GET', `${SCALE_SETS}/(\\d+)`, 'getScaleSet'),
  route('PATCH', `${SCALE_SETS}/(\\d+)`, 'updateScaleSet'),
  route('DELETE', `${SCALE_SETS}/(\\d+)`, 'deleteScaleSet'),
  route('POST', `${SCALE_SETS}/(\\d+)/generatejitconfig`, 'generateJitConfig'),
  route('POST', `${SCALE_SETS}/(\\d+)/sessions`, 'createSession'),
  route('PATCH', `${SCALE_SETS}/(\\d+)/sessions/([^/]+)`, 'refreshSession'),
  route('DELETE', `${SCALE_SETS}/(\\d+)/sessions/([^/]+)`, 'deleteSession'),
  route('POST', `${SCALE_SETS}/(\\d+)/acquirejobs`, 'acquireJobs'),
  route('GET', AGENTS, 'getRunnerByName'),
  route('GET', `${AGENTS}/(\\d+)`, 'getRunner'),
  route('DELETE', `${AGENTS}/(\\d+)`, 'removeRunner'),
  route('GET', MESSAGE_QUEUE_PATH, 'getMessage'),
  route('DELETE', `${MESSAGE_QUEUE_PATH}/([^/]+)`, 'deleteMessage'),
];

/** Finds the protocol endpoint for a method and path (path without query). */
export function matchRoute(method: string, path: string): RouteMatch | undefined {
  for (const r of ROUTES) {
    if (r.method !== method) {
      continue;
    }
    const m = r.pattern.exec(path);
    if (m) {
      return { endpoint: r.endpoint, params: m.slice(1).map((p) => decodeURIComponent(p)) };
    }
  }
  return undefined;
}

/** Whether an endpoint belongs to the GitHub REST API (as opposed to the Actions service). */
export function isGitHubRestEndpoint(endpoint: EndpointName): boolean {
  return (
    endpoint === 'installationToken' ||
    endpoint === 'registrationToken' ||
    endpoint === 'runnerRegistration'
  );
}
