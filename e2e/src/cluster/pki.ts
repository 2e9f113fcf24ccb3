/**
 * Certificates and the service-account key of the local control plane, made
 * with the machine's openssl (ECDSA P-256: quick to generate, accepted by
 * every component). One CA signs the apiserver's serving certificate and one
 * client certificate per identity.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICE_IP } from './config.ts';
import { ClusterError } from './errors.ts';
import { run, runChecked } from './proc.ts';

export interface ClientIdentity {
  /** File stem, e.g. `admin`. */
  name: string;
  cn: string;
  org?: string;
}

/** Client identities: admin and kwok act as cluster admins; the controller-manager and scheduler get their bootstrap RBAC roles. */
export const IDENTITIES: readonly ClientIdentity[] = [
  { name: 'admin', cn: 'berth-e2e-admin', org: 'system:masters' },
  { name: 'kube-controller-manager', cn: 'system:kube-controller-manager' },
  { name: 'kube-scheduler', cn: 'system:kube-scheduler' },
  { name: 'kwok', cn: 'kwok', org: 'system:masters' },
  // The apiserver's identity towards aggregated API servers (requestheader auth).
  { name: 'front-proxy-client', cn: 'front-proxy-client' },
];

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  apiserverCert: string;
  apiserverKey: string;
  saKey: string;
  saPub: string;
  client(name: string): { cert: string; key: string };
}

export function pkiPaths(dir: string): Pki {
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    apiserverCert: join(dir, 'apiserver.crt'),
    apiserverKey: join(dir, 'apiserver.key'),
    saKey: join(dir, 'sa.key'),
    saPub: join(dir, 'sa.pub'),
    client: (name) => ({ cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) }),
  };
}

async function openssl(args: string[]): Promise<string> {
  try {
    return await runChecked('openssl', args);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ClusterError('E2E_NO_OPENSSL', 'certificates are made with openssl; install it (apt-get install openssl)', {
        component: 'openssl',
      });
    }
    throw err;
  }
}

async function ecKey(path: string): Promise<void> {
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
}

function serial(): string {
  return `0x${randomBytes(16).toString('hex').replace(/^[89a-f]/, '1')}`;
}

async function signLeaf(p: Pki, stem: string, subject: string, ext: string[]): Promise<void> {
  const key = join(p.dir, `${stem}.key`);
  const csr = join(p.dir, `${stem}.csr`);
  const extFile = join(p.dir, `${stem}.ext`);
  await ecKey(key);
  await openssl(['req', '-new', '-key', key, '-subj', subject, '-out', csr]);
  writeFileSync(extFile, ['[v3]', 'basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', ...ext, ''].join('\n'));
  await openssl([
    'x509', '-req', '-in', csr, '-CA', p.caCert, '-CAkey', p.caKey, '-set_serial', serial(),
    '-days', '3650', '-sha256', '-extfile', extFile, '-extensions', 'v3', '-out', join(p.dir, `${stem}.crt`),
  ]);
  rmSync(csr);
  rmSync(extFile);
}

/** Creates the PKI in `dir` unless it is already complete. */
export async function ensurePki(dir: string): Promise<Pki> {
  const p = pkiPaths(dir);
  const all = [p.caCert, p.caKey, p.apiserverCert, p.apiserverKey, p.saKey, p.saPub, ...IDENTITIES.map((i) => p.client(i.name).cert)];
  if (all.every((f) => existsSync(f))) return p;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });

  await ecKey(p.caKey);
  const caConf = join(dir, 'ca.cnf');
  writeFileSync(
    caConf,
    [
      '[req]', 'distinguished_name=dn', 'prompt=no', 'x509_extensions=v3_ca',
      '[dn]', 'CN=berth-e2e-ca',
      '[v3_ca]', 'basicConstraints=critical,CA:TRUE', 'keyUsage=critical,digitalSignature,keyCertSign,cRLSign', 'subjectKeyIdentifier=hash', '',
    ].join('\n'),
  );
  await openssl(['req', '-x509', '-new', '-key', p.caKey, '-config', caConf, '-days', '3650', '-sha256', '-set_serial', serial(), '-out', p.caCert]);
  rmSync(caConf);

  const sans = [
    'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default', 'DNS:kubernetes.default.svc',
    'DNS:kubernetes.default.svc.cluster.local', 'IP:127.0.0.1', `IP:${SERVICE_IP}`,
  ];
  await signLeaf(p, 'apiserver', '/CN=kube-apiserver', ['extendedKeyUsage=serverAuth', `subjectAltName=${sans.join(',')}`]);
  for (const id of IDENTITIES) {
    const subject = `${id.org ? `/O=${id.org}` : ''}/CN=${id.cn}`;
    await signLeaf(p, id.name, subject, ['extendedKeyUsage=clientAuth']);
  }

  await ecKey(p.saKey);
  await openssl(['pkey', '-in', p.saKey, '-pubout', '-out', p.saPub]);
  return p;
}

/** True when the openssl command can be run. */
export async function hasOpenssl(): Promise<boolean> {
  try {
    return (await run('openssl', ['version'])).code === 0;
  } catch {
    return false;
  }
}
