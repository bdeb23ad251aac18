/**
 * The container deployment, checked without Docker: deploy/compose.production.yml and the Dockerfile are parsed and
 * held against the code's configuration (src/config/index.ts reads every variable the compose file sets for the worker,
 * and accepts their values), the images are pinned, every long-running service has a health check and a restart
 * policy, and the Dockerfile's runtime stage installs the peer dependencies the worker needs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { randomBytes } from 'node:crypto';
import { readMetrics, readReplicateRateLimits, readWorkerConfig } from '../src/config';
import { readCodecServerConfig } from '../src/config/codec-server';
import { readLogFormat } from '../src/observability/log';

const ROOT = path.join(__dirname, '..');
const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[]; disable?: boolean };
  restart?: string;
  stop_grace_period?: string;
  deploy?: { replicas?: string | number };
  ports?: string[];
  volumes?: string[];
  profiles?: string[];
}

const compose = parse(read('deploy/compose.production.yml'), { merge: true }) as {
  services: Record<string, Service>;
};
const services = compose.services;
const ONE_SHOT = ['temporal-schema', 'temporal-namespace'];
const LONG_RUNNING = Object.keys(services).filter((name) => !ONE_SHOT.includes(name));

/**
 * Environment variable names a source file reads (`env.X`, `env?.X`, `process.env.X`, `fn(env, 'X', ...)`); for
 * src/config/index.ts also Temporal's standard ones, which it reads through @temporalio/envconfig (`envProvider['X']`).
 */
function variablesReadBy(file: string): Set<string> {
  const source = read(file);
  const names = new Set<string>();
  if (source.includes("from '@temporalio/envconfig'")) {
    const envconfig = read('node_modules/@temporalio/envconfig/lib/envconfig-toml.js');
    for (const match of envconfig.matchAll(/envProvider\['([A-Z][A-Z0-9_]*)'\]/g)) names.add(match[1]!);
  }
  for (const match of source.matchAll(/\benv\??\.([A-Z][A-Z0-9_]*)/g)) names.add(match[1]!);
  for (const match of source.matchAll(/\(\s*env\s*,\s*['"]([A-Z][A-Z0-9_]*)['"]/g)) names.add(match[1]!);
  for (const match of source.matchAll(/\bread\(\s*['"]([A-Z][A-Z0-9_]*)['"]/g)) names.add(match[1]!);
  for (const match of source.matchAll(
    /\{\s*([A-Z][A-Z0-9_]*)\s*:\s*['"][^'"]*['"]\s*,\s*\.\.\.process\.env/g,
  ))
    names.add(match[1]!);
  return names;
}

/** Compose interpolation as `docker compose` does it, with `given` for the host's variables. */
function interpolate(value: string, given: Record<string, string>): string {
  return value.replace(
    /\$\{([A-Z0-9_]+)(?::?([-?+])([^}]*))?\}/g,
    (_, name: string, op?: string, arg?: string) => {
      if (op === '+') return given[name] ? (arg ?? '') : '';
      if (given[name]) return given[name];
      if (op === '?') throw new Error(`${name} is required: ${arg}`);
      return op === '-' ? (arg ?? '') : '';
    },
  );
}

/** A service's environment as the container gets it, with `given` for the host's variables. */
function resolvedEnv(service: Service, given: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(service.environment!).map(([k, v]) => [k, interpolate(String(v), given)]),
  );
}

/**
 * The worker's environment for readWorkerConfig on this machine: WORKFLOW_BUNDLE names a file inside the image
 * (checked against the Dockerfile separately), so it is set aside here.
 */
function withoutImageBundle(env: Record<string, string>): Record<string, string> {
  const { WORKFLOW_BUNDLE: bundle, ...rest } = env;
  expect(bundle).toMatch(/^\/app\/lib\/workflow-bundle(-encrypted)?\.js$/);
  return rest;
}

function imageParts(image: string): { name: string; tag: string | null } {
  const at = image.lastIndexOf(':');
  if (at <= image.lastIndexOf('/')) return { name: image, tag: null };
  return { name: image.slice(0, at), tag: image.slice(at + 1) };
}

describe('deploy/compose.production.yml', () => {
  it('has the production topology: postgres, schema job, server, namespace job, UI, workers, webhook receiver', () => {
    expect(Object.keys(services).sort()).toEqual(
      [
        'postgres',
        'temporal-schema',
        'temporal',
        'temporal-namespace',
        'temporal-ui',
        'worker',
        'webhooks',
        'codec-server',
        'prometheus',
        'grafana',
      ].sort(),
    );
    expect(services.worker!.build).toEqual({ context: '..', dockerfile: 'Dockerfile' });
    expect(existsSync(path.join(ROOT, 'deploy', services.worker!.build!.context, 'Dockerfile'))).toBe(true);
    expect(String(services.worker!.deploy?.replicas)).toMatch(/^\$\{WORKER_REPLICAS:-\d+\}$|^\d+$/);
  });

  it('pins every image to an exact version (no latest, no untagged, no floating major)', () => {
    for (const [name, service] of Object.entries(services)) {
      expect(service.image, `${name} has an image`).toBeTruthy();
      const { tag } = imageParts(service.image!);
      expect(tag, `${name}: ${service.image} has a tag`).not.toBeNull();
      expect(tag, `${name}: ${service.image}`).not.toBe('latest');
      expect(tag, `${name}: ${service.image} names an exact version`).toMatch(
        /^v?\d+\.\d+(\.\d+)?(-[\w.-]+)?$/, // prom/prometheus tags are v3.5.0
      );
    }
    const versions = Object.fromEntries(
      Object.values(services).map((s) => [imageParts(s.image!).name, imageParts(s.image!).tag]),
    );
    expect(versions['temporalio/server']).toMatch(/^1\.32\.\d+$/);
    expect(versions['temporalio/admin-tools']).toBe(versions['temporalio/server']);
    expect(versions['temporalio/ui']).toMatch(/^2\.\d+\.\d+$/);
    expect(versions).not.toHaveProperty('temporalio/auto-setup'); // deprecated
    // the worker image's tag follows the package version
    expect(versions['replicate-temporal-worker']).toBe(JSON.parse(read('package.json')).version);
  });

  it('sets up both schemas with admin-tools before the server starts', () => {
    const schema = services['temporal-schema']!;
    expect(imageParts(schema.image!).name).toBe('temporalio/admin-tools');
    const script = schema.command!.join('\n');
    for (const db of ['temporal', 'temporal_visibility']) {
      expect(script).toContain(`--db ${db} setup-schema -v 0.0`);
    }
    expect(script).toContain('--db temporal update-schema --schema-name postgresql/v12/temporal');
    expect(script).toContain(
      '--db temporal_visibility update-schema --schema-name postgresql/v12/visibility',
    );
    expect(schema.environment).toMatchObject({ SQL_PLUGIN: 'postgres12', SQL_HOST: 'postgres' });
    expect(schema.depends_on?.postgres?.condition).toBe('service_healthy');
    expect(services.temporal!.depends_on?.['temporal-schema']?.condition).toBe(
      'service_completed_successfully',
    );
    expect(services['temporal-namespace']!.command!.join('\n')).toMatch(
      /namespace create --namespace default/,
    );
  });

  it('runs the server on PostgreSQL for persistence and visibility', () => {
    const env = services.temporal!.environment!;
    expect(env.DB).toBe('postgres12');
    expect(services).toHaveProperty(env.POSTGRES_SEEDS!);
    expect(env.POSTGRES_USER).toBe(services.postgres!.environment!.POSTGRES_USER);
    expect(env.POSTGRES_PWD).toBe(services.postgres!.environment!.POSTGRES_PASSWORD);
    expect(env.ENABLE_ES ?? 'false').toBe('false'); // visibility stays on SQL
    expect(env.VISIBILITY_DBNAME).toBe('temporal_visibility');
    const dynamic = env.DYNAMIC_CONFIG_FILE_PATH!;
    const mount = services
      .temporal!.volumes!.map((v) => v.split(':'))
      .find(([, target]) => dynamic.startsWith(target!));
    expect(mount, 'the dynamic config file is mounted').toBeDefined();
    expect(existsSync(path.join(ROOT, 'deploy', mount![0]!, path.basename(dynamic)))).toBe(true);
  });

  it('gives the worker only variables src/config/index.ts reads, with values it accepts', () => {
    const known = new Set([
      ...variablesReadBy('src/config/index.ts'),
      ...variablesReadBy('src/config/encryption.ts'),
      ...variablesReadBy('src/observability/log.ts'),
    ]);
    const env = services.worker!.environment!;
    for (const name of Object.keys(env)) expect(known, `src/config/index.ts reads ${name}`).toContain(name);
    const resolved = withoutImageBundle(resolvedEnv(services.worker!, { REPLICATE_API_TOKEN: 'r8_example' }));
    const config = readWorkerConfig(resolved);
    expect(config.encryption).toBeUndefined(); // ENCRYPTION_KEY unset on the host: nothing encrypted
    expect(readLogFormat(resolved)).toBe('json');
    expect(readReplicateRateLimits(resolved)).toEqual({
      createsPerMinute: 600,
      readsPerMinute: 3000,
      localReadShare: 0.9,
    });
    // the worker talks to the server service on its frontend port
    const [host, port] = config.address.split(':');
    expect(services).toHaveProperty(host!);
    expect(host).toBe('temporal');
    expect(Number(port)).toBe(Number(services.temporal!.environment!.FRONTEND_GRPC_PORT ?? 7233));
    expect(services.temporal!.ports).toContain(`${port}:${port}`);
    expect(config.replicateBaseUrl).toBe('https://api.replicate.com/v1');
    expect(config.webhook).toBeNull(); // WEBHOOK_BASE_URL unset on the host: polling only
    // outputs land on the mounted volume
    expect(services.worker!.volumes!.some((v) => v.endsWith(`:${config.outputDir}`))).toBe(true);
    // Docker's SIGKILL comes after the worker's own drain
    expect(parseInt(services.worker!.stop_grace_period!, 10)).toBeGreaterThan(
      config.shutdownGraceTimeMs / 1000,
    );
    // the variables the host must provide are required, not silently empty
    expect(() =>
      readWorkerConfig(
        Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolate(String(v), {})])),
      ),
    ).toThrow(/REPLICATE_API_TOKEN is required/);
  });

  it('encrypts with ENCRYPTION_KEY from the host, on the bundle the image built for it', () => {
    const key = randomBytes(32).toString('base64');
    const old = randomBytes(32).toString('base64');
    const host = { REPLICATE_API_TOKEN: 'r8_x', ENCRYPTION_KEY: key, ENCRYPTION_KEYS_OLD: old };
    for (const name of ['worker', 'webhooks']) {
      const env = resolvedEnv(services[name]!, host);
      expect(env.WORKFLOW_BUNDLE, name).toBe('/app/lib/workflow-bundle-encrypted.js');
      const config = readWorkerConfig(withoutImageBundle(env));
      expect(config.encryption).toEqual({
        current: Buffer.from(key, 'base64'),
        old: [Buffer.from(old, 'base64')],
      });
    }
    expect(resolvedEnv(services.worker!, { REPLICATE_API_TOKEN: 'r8_x' }).WORKFLOW_BUNDLE).toBe(
      '/app/lib/workflow-bundle.js',
    );
    // the image builds both bundles where those paths point
    expect(read('Dockerfile')).toContain(
      'npm run build:workflows -- --encrypted lib/workflow-bundle-encrypted.js',
    );
  });

  it('runs the codec server (profile encryption) from the same image, with a token, on this host only', () => {
    const codec = services['codec-server']!;
    expect(codec.profiles).toEqual(['encryption']);
    expect(codec.image).toBe(services.worker!.image);
    expect(codec.command).toEqual(['node', 'lib/cli/main.js', 'codec-server']);
    expect(existsSync(path.join(ROOT, 'src/cli/main.ts'))).toBe(true);
    const known = new Set([
      ...variablesReadBy('src/config/codec-server.ts'),
      ...variablesReadBy('src/config/encryption.ts'),
      ...variablesReadBy('src/config/index.ts'),
      ...variablesReadBy('src/observability/log.ts'),
    ]);
    for (const name of Object.keys(codec.environment!)) expect(known, `it reads ${name}`).toContain(name);
    const host = { ENCRYPTION_KEY: randomBytes(32).toString('base64'), CODEC_AUTH_TOKEN: 'b'.repeat(32) };
    const config = readCodecServerConfig(resolvedEnv(codec, host));
    expect(config).toMatchObject({ host: '0.0.0.0', authToken: 'b'.repeat(32), namespace: 'default' });
    // the UI's origin as a browser sees it: the temporal-ui service's published port
    const uiPort = services['temporal-ui']!.ports![0]!.split(':')[0];
    expect(config.corsOrigins).toEqual([`http://localhost:${uiPort}`]);
    // published on the host's loopback, at the port it listens on
    expect(codec.ports).toEqual([`127.0.0.1:${config.port}:${config.port}`]);
    expect(codec.healthcheck!.test!.join(' ')).toContain(`127.0.0.1:${config.port}/healthz`);
    // on the compose network it needs the token, and the keys; it says so rather than serving anyone
    expect(() => readCodecServerConfig(resolvedEnv(codec, { ENCRYPTION_KEY: host.ENCRYPTION_KEY }))).toThrow(
      /CODEC_AUTH_TOKEN is not set/,
    );
    expect(() =>
      readCodecServerConfig(resolvedEnv(codec, { CODEC_AUTH_TOKEN: host.CODEC_AUTH_TOKEN })),
    ).toThrow(/ENCRYPTION_KEY is not set/);
    // the UI decodes through an endpoint the operator names (a browser cannot send the token itself)
    expect(services['temporal-ui']!.environment!.TEMPORAL_CODEC_ENDPOINT).toBe(
      '${TEMPORAL_CODEC_ENDPOINT:-}',
    );
  });

  it('gives the webhook receiver the worker environment plus its own port, from the same image', () => {
    const known = new Set([
      ...variablesReadBy('src/config/index.ts'),
      ...variablesReadBy('src/config/encryption.ts'),
      ...variablesReadBy('src/observability/log.ts'),
      ...variablesReadBy('src/webhooks/main.ts'),
    ]);
    const env = services.webhooks!.environment!;
    for (const name of Object.keys(env)) expect(known, `the receiver reads ${name}`).toContain(name);
    expect(env).toMatchObject(services.worker!.environment!);
    expect(services.webhooks!.image).toBe(services.worker!.image);
    expect(services.webhooks!.command).toEqual(['node', 'lib/webhooks/main.js']);
    expect(existsSync(path.join(ROOT, 'src/webhooks/main.ts'))).toBe(true);
    expect(services.webhooks!.ports).toContain(`${env.WEBHOOK_PORT}:${env.WEBHOOK_PORT}`);
    const config = readWorkerConfig(
      withoutImageBundle(resolvedEnv(services.webhooks!, { REPLICATE_API_TOKEN: 'r8_x' })),
    );
    expect(config.webhook?.port).toBe(8788);
  });

  it('scrapes every worker replica and the receiver on METRICS_PORT, and provisions Grafana with that Prometheus', () => {
    const port = services.worker!.environment!.METRICS_PORT!;
    expect(port).toMatch(/^\d+$/);
    expect(services.webhooks!.environment!.METRICS_PORT).toBe(port);
    // scraped from the prometheus container: bound to every interface of the worker's (loopback is the default)
    for (const name of ['worker', 'webhooks']) {
      const env = services[name]!.environment!;
      expect(env.METRICS_HOST, name).toBe('0.0.0.0');
      expect(readMetrics(env).metrics).toEqual({ port: Number(port), host: '0.0.0.0' });
    }
    for (const name of ['worker', 'webhooks'])
      expect((services[name] as Service & { expose?: string[] }).expose).toContain(port);
    const prometheus = services.prometheus!;
    const configDir = prometheus.volumes!.find((v) => v.endsWith(':/etc/prometheus:ro'))!.split(':')[0]!;
    const config = parse(read(path.join('deploy', configDir, 'prometheus.yml'))) as {
      rule_files: string[];
      scrape_configs: Array<{
        job_name: string;
        dns_sd_configs?: Array<{ names: string[]; type: string; port: number }>;
        static_configs?: Array<{ targets: string[] }>;
      }>;
    };
    const jobs = Object.fromEntries(config.scrape_configs.map((job) => [job.job_name, job]));
    // `worker` answers with one A record per replica on the compose network: each is scraped
    expect(jobs['replicate-worker']!.dns_sd_configs).toEqual([
      expect.objectContaining({ names: ['worker'], type: 'A', port: Number(port) }),
    ]);
    expect(jobs['replicate-webhooks']!.static_configs).toEqual([{ targets: [`webhooks:${port}`] }]);
    for (const file of config.rule_files)
      expect(existsSync(path.join(ROOT, 'deploy', configDir, file)), `rule file ${file}`).toBe(true);
    expect(prometheus.command).toContain('--config.file=/etc/prometheus/prometheus.yml');
    // Grafana: the datasource is the prometheus service, the dashboards folder is where the provider reads
    const grafana = services.grafana!;
    const mounts = Object.fromEntries(grafana.volumes!.map((v) => [v.split(':')[1]!, v.split(':')[0]!]));
    const provisioning = path.join('deploy', mounts['/etc/grafana/provisioning']!);
    const datasource = (
      parse(read(path.join(provisioning, 'datasources/prometheus.yml'))) as {
        datasources: Array<{ type: string; url: string }>;
      }
    ).datasources[0]!;
    expect(datasource).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090' });
    expect(prometheus.ports).toContain('9090:9090');
    const provider = (
      parse(read(path.join(provisioning, 'dashboards/replicate-temporal.yml'))) as {
        providers: Array<{ options: { path: string } }>;
      }
    ).providers[0]!;
    const dashboards = path.join('deploy', mounts[provider.options.path]!);
    expect(existsSync(path.join(ROOT, dashboards, 'replicate-temporal.json'))).toBe(true);
    expect(grafana.environment!.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH).toBe(
      `${provider.options.path}/replicate-temporal.json`,
    );
    expect(grafana.depends_on?.prometheus?.condition).toBe('service_healthy');
    // no default admin password in the file
    expect(grafana.environment!.GF_SECURITY_ADMIN_PASSWORD).toMatch(/^\$\{GRAFANA_ADMIN_PASSWORD:\?/);
  });

  it('has a health check and a restart policy on every long-running service; one-shot jobs restart on failure', () => {
    for (const name of LONG_RUNNING) {
      const service = services[name]!;
      expect(service.restart, `${name} restart`).toMatch(/^(always|unless-stopped)$/);
      expect(service.healthcheck?.disable, `${name} health check`).not.toBe(true);
      expect(service.healthcheck?.test?.length, `${name} health check`).toBeGreaterThan(1);
    }
    for (const name of ONE_SHOT) expect(services[name]!.restart).toBe('on-failure');
    // services wait for what they need to be healthy or done
    expect(services['temporal-ui']!.depends_on?.temporal?.condition).toBe('service_healthy');
    expect(services['temporal-namespace']!.depends_on?.temporal?.condition).toBe('service_healthy');
    for (const name of ['worker', 'webhooks']) {
      expect(services[name]!.depends_on?.['temporal-namespace']?.condition).toBe(
        'service_completed_successfully',
      );
    }
    // the worker's health check is the image's: its readiness endpoint
    expect(services.worker!.healthcheck!.test).toEqual([
      'CMD',
      'node',
      'lib/worker/health-probe.js',
      '/readyz',
    ]);
  });
});

interface Stage {
  name: string;
  image: string;
  lines: string[];
}

/** The Dockerfile's stages, with continuation lines joined. */
function dockerfileStages(text: string): Stage[] {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of lines) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) stages.push({ image: from[1]!, name: from[2] ?? String(stages.length), lines: [] });
    else stages.at(-1)!.lines.push(line);
  }
  return stages;
}

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const stages = dockerfileStages(dockerfile);
  const build = stages.find((s) => s.name === 'build')!;
  const runtime = stages.at(-1)!;
  const work = mkdtempSync(path.join(tmpdir(), 'replicate-temporal-dockerfile-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('builds in one stage and runs from a slim one, both on a pinned Node image', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', 'runtime']);
    for (const stage of stages) {
      expect(stage.image).toMatch(/^node:\d+\.\d+\.\d+-[\w-]+$/);
      const major = Number(/^node:(\d+)/.exec(stage.image)![1]);
      const engines = JSON.parse(read('package.json')).engines.node as string;
      expect(major).toBeGreaterThanOrEqual(Number(/(\d+)/.exec(engines)![1]));
    }
    const runs = build.lines.filter((l) => l.startsWith('RUN')).join('\n');
    expect(runs).toMatch(/npm ci\b/);
    expect(runs).toContain('npm run build ');
    expect(runs).toContain('npm run build:workflows');
    // the health check is compiled with the rest of src/ into lib/
    expect(existsSync(path.join(ROOT, 'src/worker/health-probe.ts'))).toBe(true);
  });

  it('runs lib/worker/main.js as a non-root user with the prebuilt bundle and a health check', () => {
    const runtimeText = runtime.lines.join('\n');
    expect(runtimeText).toMatch(/npm ci --omit=dev/);
    expect(runtimeText).toMatch(/COPY --from=build \/app\/lib \.\/lib/);
    const user = runtime.lines.filter((l) => l.startsWith('USER')).at(-1);
    expect(user).toBeDefined();
    expect(user!.split(/\s+/)[1]).not.toMatch(/^(root|0)(:|$)/);
    const cmd = runtime.lines.filter((l) => l.startsWith('CMD')).at(-1)!;
    expect(JSON.parse(cmd.slice(3).trim())).toEqual(['node', 'lib/worker/main.js']);
    expect(existsSync(path.join(ROOT, 'src/worker/main.ts'))).toBe(true);
    const health = runtime.lines.find((l) => l.startsWith('HEALTHCHECK'));
    expect(health).toMatch(/CMD \["node", "lib\/worker\/health-probe.js", "\/readyz"\]/);
    // the worker serves /readyz on the port the probe asks (HEALTH_PORT, read by src/config/index.ts)
    const port = /HEALTH_PORT=(\d+)/.exec(runtimeText)?.[1];
    expect(port).toBeDefined();
    expect(readWorkerConfig({ REPLICATE_API_TOKEN: 'r8_x', HEALTH_PORT: port }).health?.port).toBe(
      Number(port),
    );
    expect(runtimeText).toContain(`EXPOSE ${port}`);
    // the endpoints bind loopback unless told otherwise: a container's probes and scrapers come from outside it
    expect(readWorkerConfig({ REPLICATE_API_TOKEN: 'r8_x', HEALTH_PORT: port }).health?.host).toBe(
      '127.0.0.1',
    );
    expect(runtimeText).toMatch(/HEALTH_HOST=0\.0\.0\.0/);
    expect(runtimeText).toMatch(/METRICS_HOST=0\.0\.0\.0/);
    // USER comes before CMD and HEALTHCHECK: neither runs as root
    const order = (prefix: string) => runtime.lines.findIndex((l) => l.startsWith(prefix));
    expect(order('USER')).toBeLessThan(order('CMD'));
    expect(order('USER')).toBeLessThan(order('HEALTHCHECK'));
    // the bundle the worker loads is the one build:workflows writes by default
    expect(runtimeText).toMatch(/WORKFLOW_BUNDLE=\/app\/lib\/workflow-bundle\.js/);
    expect(read('scripts/build-workflow-bundle.ts')).toContain("'lib', 'workflow-bundle.js'");
  });

  it('installs the @temporalio peer dependencies in the runtime stage, at the tested versions', () => {
    const script = /node -e "(.*?)" *&&/.exec(runtime.lines.join('\n'))![1]!;
    const pkg = JSON.parse(read('package.json')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
      peerDependencies: Record<string, string>;
    };
    writeFileSync(path.join(work, 'package.json'), JSON.stringify(pkg, null, 2));
    execFileSync(process.execPath, ['-e', script], { cwd: work });
    const promoted = JSON.parse(readFileSync(path.join(work, 'package.json'), 'utf8')) as typeof pkg;
    expect(Object.keys(pkg.peerDependencies).length).toBeGreaterThan(0);
    for (const name of Object.keys(pkg.peerDependencies)) {
      expect(promoted.dependencies[name], name).toBe(pkg.devDependencies[name]);
      expect(promoted.devDependencies).not.toHaveProperty(name);
    }
    for (const [name, version] of Object.entries(pkg.dependencies))
      expect(promoted.dependencies[name]).toBe(version);
    // then the lockfile's dev flags are refreshed and only production dependencies are installed
    expect(runtime.lines.join('\n')).toMatch(/npm install --package-lock-only.*npm ci --omit=dev/);
  });

  it('sends only what the build needs to the Docker daemon', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const heavy of ['node_modules', 'lib', '.git', '.cluster', '.venv', 'outputs'])
      expect(ignored).toContain(heavy);
    const copied = build.lines
      .filter((l) => l.startsWith('COPY') && !l.includes('--from'))
      .flatMap((l) => l.split(/\s+/).slice(1, -1));
    for (const source of copied) {
      expect(ignored, `${source} is sent`).not.toContain(source);
      expect(existsSync(path.join(ROOT, source)), `${source} exists`).toBe(true);
    }
  });
});
