/** Compute API methods the fake serves. */
export type ComputeMethod =
  | 'instances.insert'
  | 'instances.list'
  | 'instances.get'
  | 'instances.delete'
  | 'instances.setMetadata'
  | 'instances.setLabels'
  | 'instances.getGuestAttributes'
  | 'instances.aggregatedList'
  | 'zoneOperations.get'
  | 'zoneOperations.wait'
  | 'images.get'
  | 'images.getFromFamily';

/** A request matched to a method, with its path parameters. */
export interface ComputeRoute {
  method: ComputeMethod;
  project: string;
  zone?: string;
  /** Instance, operation, image or family name. */
  resource?: string;
  /** IAM permission the call needs (named in 403 messages). */
  permission: string;
}

interface RouteDef {
  verb: string;
  pattern: RegExp;
  method: ComputeMethod;
  permission: string;
  params: ('project' | 'zone' | 'resource')[];
}

const BASE = '^/compute/v1/projects/([^/]+)';
const SEGMENT = '([^/]+)';

function def(
  verb: string,
  path: string,
  method: ComputeMethod,
  permission: string,
  params: RouteDef['params'],
): RouteDef {
  return { verb, pattern: new RegExp(`${BASE}${path}$`), method, permission, params };
}

const ZI = ['project', 'zone', 'resource'] as const;

const ROUTES: RouteDef[] = [
  def('POST', `/zones/${SEGMENT}/instances`, 'instances.insert', 'compute.instances.create', [
    'project',
    'zone',
  ]),
  def('GET', `/zones/${SEGMENT}/instances`, 'instances.list', 'compute.instances.list', [
    'project',
    'zone',
  ]),
  def('GET', `/zones/${SEGMENT}/instances/${SEGMENT}`, 'instances.get', 'compute.instances.get', [
    ...ZI,
  ]),
  def(
    'DELETE',
    `/zones/${SEGMENT}/instances/${SEGMENT}`,
    'instances.delete',
    'compute.instances.delete',
    [...ZI],
  ),
  def(
    'POST',
    `/zones/${SEGMENT}/instances/${SEGMENT}/setMetadata`,
    'instances.setMetadata',
    'compute.instances.setMetadata',
    [...ZI],
  ),
  def(
    'POST',
    `/zones/${SEGMENT}/instances/${SEGMENT}/setLabels`,
    'instances.setLabels',
    'compute.instances.setLabels',
    [...ZI],
  ),
  def(
    'GET',
    `/zones/${SEGMENT}/instances/${SEGMENT}/getGuestAttributes`,
    'instances.getGuestAttributes',
    'compute.instances.getGuestAttributes',
    [...ZI],
  ),
  def('GET', '/aggregated/instances', 'instances.aggregatedList', 'compute.instances.list', [
    'project',
  ]),
  def(
    'GET',
    `/zones/${SEGMENT}/operations/${SEGMENT}`,
    'zoneOperations.get',
    'compute.zoneOperations.get',
    [...ZI],
  ),
  def(
    'POST',
    `/zones/${SEGMENT}/operations/${SEGMENT}/wait`,
    'zoneOperations.wait',
    'compute.zoneOperations.get',
    [...ZI],
  ),
  def('GET', `/global/images/family/${SEGMENT}`, 'images.getFromFamily', 'compute.images.get', [
    'project',
    'resource',
  ]),
  def('GET', `/global/images/${SEGMENT}`, 'images.get', 'compute.images.get', [
    'project',
    'resource',
  ]),
];

/** Finds the Compute method for an HTTP verb and path (without query). */
export function matchComputeRoute(verb: string, path: string): ComputeRoute | undefined {
  for (const route of ROUTES) {
    if (route.verb !== verb) {
      continue;
    }
    const m = route.pattern.exec(path);
    if (!m) {
      continue;
    }
    const found: ComputeRoute = { method: route.method, project: '', permission: route.permission };
    route.params.forEach((param, i) => {
      found[param] = decodeURIComponent(m[i + 1] ?? '');
    });
    return found;
  }
  return undefined;
}

/** The resource path a 403 names for a call in `project`. */
export function deniedResource(route: ComputeRoute): string {
  const project = `projects/${route.project}`;
  switch (route.method) {
    case 'instances.list':
    case 'instances.aggregatedList':
      return project;
    case 'instances.insert':
      return `${project}/zones/${route.zone ?? ''}/instances`;
    case 'zoneOperations.get':
    case 'zoneOperations.wait':
      return `${project}/zones/${route.zone ?? ''}/operations/${route.resource ?? ''}`;
    case 'images.get':
      return `${project}/global/images/${route.resource ?? ''}`;
    case 'images.getFromFamily':
      return `${project}/global/images/family/${route.resource ?? ''}`;
    case 'instances.get':
    case 'instances.delete':
    case 'instances.setMetadata':
    case 'instances.setLabels':
    case 'instances.getGuestAttributes':
      return `${project}/zones/${route.zone ?? ''}/instances/${route.resource ?? ''}`;
  }
}
