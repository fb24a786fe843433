import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MountSpecError, mountKey, parseMount, ramInBytes } from './parse.ts';

test('tmpfs: target aliases, size units, relative targets against the workdir', () => {
  assert.deepEqual(parseMount('type=tmpfs,target=/tmp/x'), { type: 'tmpfs', target: '/tmp/x', size: 0, options: [['type', 'tmpfs'], ['target', '/tmp/x']] });
  assert.equal(parseMount('type=tmpfs,dst=/a/../b/').target, '/b');
  assert.equal(parseMount('type=tmpfs,destination=c', '/work').target, '/work/c');
  assert.equal(parseMount('TYPE=TMPFS,target=/t,size=64m').size, 64 * 1024 * 1024);
  assert.equal(parseMount('type=tmpfs,target=/t,size=1024').size, 1024);
  assert.equal(ramInBytes('1.5GiB'), 1.5 * 1024 ** 3);
  assert.equal(ramInBytes('2k'), 2048);
});

test('errors as BuildKit words them; other known types are not supported yet', () => {
  const fails = (v: string, re: RegExp, notSupported = false): void => {
    assert.throws(() => parseMount(v), (e: unknown) => e instanceof MountSpecError && re.test(e.message) && e.notSupported === notSupported);
  };
  fails('type=tmpfs,target=/t,colour=red', /^unexpected key 'colour' in 'colour=red'$/);
  fails('type=nfs,target=/t', /^unsupported mount type "nfs"$/);
  fails('type=tmpfs', /mount destination is required/);
  fails('type=tmpfs,target=/', /cannot mount over \//);
  fails('type=tmpfs,target=/t,size=lots', /^invalid size: 'lots'$/);
  fails('type=cache,target=/c,sharing=sometimes', /^unsupported sharing value "sometimes"$/);
  fails('type=bind,target=/c,ro=perhaps', /^invalid value for ro: perhaps$/);
  fails('type=bind,target=/c,from=', /^from= needs a stage/);
});

test('the cache key records every option', () => {
  assert.notEqual(mountKey(parseMount('type=tmpfs,target=/t')), mountKey(parseMount('type=tmpfs,target=/t,size=1m')));
  assert.notEqual(mountKey(parseMount('type=tmpfs,target=/t')), mountKey(parseMount('type=tmpfs,target=/u')));
});

test('secret: id, target default, env-only, required, mode/uid/gid', () => {
  assert.deepEqual(parseMount('type=secret,id=tok').secret, { id: 'tok', required: false, mode: 0o400, uid: 0, gid: 0 });
  assert.equal(parseMount('type=secret,id=tok').target, '/run/secrets/tok');
  assert.equal(parseMount('type=secret,target=/etc/x.conf').secret?.id, 'x.conf');
  const e = parseMount('type=secret,id=tok,env=TOKEN,required=true,mode=0440,uid=5,gid=6');
  assert.equal(e.target, '');
  assert.deepEqual(e.secret, { id: 'tok', env: 'TOKEN', required: true, mode: 0o440, uid: 5, gid: 6 });
  assert.equal(parseMount('type=secret,id=t,env=T,target=/s').target, '/s');
  assert.throws(() => parseMount('type=secret'), /secret ID missing/);
  assert.throws(() => parseMount('type=secret,id=a,mode=9'), /invalid value for mode/);
  assert.throws(() => parseMount('type=secret,id=a,required=maybe'), /invalid value for required/);
});

test('cache: id defaults to the target, sharing, ro, from/source, mode default 0755', () => {
  assert.deepEqual(parseMount('type=cache,target=/root/.cache').cache,
    { id: '/root/.cache', readonly: false, sharing: 'shared', source: '', mode: 0o755, uid: 0, gid: 0 });
  assert.deepEqual(parseMount('type=cache,id=go,target=c,sharing=LOCKED,ro,from=base,source=/x,mode=0700,uid=5,gid=6', '/w').cache,
    { id: 'go', readonly: true, sharing: 'locked', from: 'base', source: '/x', mode: 0o700, uid: 5, gid: 6 });
  assert.equal(parseMount('type=cache,id=go,target=c', '/w').target, '/w/c');
});

test('bind: the default type, read-only unless rw, from and source', () => {
  assert.deepEqual(parseMount('target=/src').bind, { source: '', readwrite: false });
  assert.deepEqual(parseMount('type=bind,target=/src,from=builder,source=/out,rw').bind, { from: 'builder', source: '/out', readwrite: true });
  assert.deepEqual(parseMount('type=bind,target=/src,readwrite=false').bind, { source: '', readwrite: false });
  assert.deepEqual(parseMount('type=bind,target=/src,ro=false').bind, { source: '', readwrite: true });
});

test('values are expanded with the given expander (ARG/ENV), keys are not', () => {
  const env = new Map([['ID', 'go-amd64'], ['T', '/cache']]);
  const spec = parseMount('type=cache,id=$ID,target=${T}', '/', (v) => v.replace(/\$\{?(\w+)\}?/gu, (_, n: string) => env.get(n) ?? ''));
  assert.equal(spec.cache?.id, 'go-amd64');
  assert.equal(spec.target, '/cache');
});

test('ssh: id default, optional target (relative from the workdir), mode 0600 unless given', () => {
  assert.deepEqual(parseMount('type=ssh').ssh, { id: 'default', required: false, mode: 0o600, uid: 0, gid: 0 });
  assert.equal(parseMount('type=ssh').target, '');
  const m = parseMount('type=ssh,id=gh,target=agent.sock,required,mode=0660,uid=7,gid=8', '/w');
  assert.equal(m.target, '/w/agent.sock');
  assert.deepEqual(m.ssh, { id: 'gh', required: true, mode: 0o660, uid: 7, gid: 8 });
  assert.throws(() => parseMount('type=ssh,target=/'), /cannot mount over \//);
  assert.throws(() => parseMount('type=ssh,mode=x'), /invalid value for mode/);
});
