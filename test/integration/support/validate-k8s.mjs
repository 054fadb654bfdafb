// Validates Kubernetes objects (a JSON array on stdin) against the API schemas shipped by
// the npm packages kubernetes-models and @kubernetes-models/prometheus-operator. Those are
// ES modules only, so the jest test runs this in a plain Node child process.
// Prints one JSON line: [{ kind, name, errors: string | null }].
const input = await new Promise((resolve) => {
  let text = '';
  process.stdin.on('data', (d) => (text += d));
  process.stdin.on('end', () => resolve(text));
});
const objects = JSON.parse(input);
const results = [];
for (const object of objects) {
  const [group, version] = object.apiVersion.includes('/')
    ? object.apiVersion.split('/')
    : ['', object.apiVersion];
  const module =
    group === 'monitoring.coreos.com'
      ? `@kubernetes-models/prometheus-operator/${group}/${version}`
      : `kubernetes-models/${group === '' ? '' : `${group}/`}${version}`;
  let errors = null;
  try {
    const models = await import(module);
    const Model = models[object.kind];
    if (Model === undefined) {
      errors = `no schema for ${object.apiVersion} ${object.kind}`;
    } else {
      new Model(object).validate();
    }
  } catch (err) {
    errors = err instanceof Error ? err.message : String(err);
  }
  results.push({ kind: object.kind, name: object.metadata?.name, errors });
}
process.stdout.write(`${JSON.stringify(results)}\n`);
