/**
 * Headless Chromium as every browser test and the parity and bench apps start it: Debian's build (never a
 * downloaded browser), with WebGL2 and WebGPU on SwiftShader and no network chatter.
 */
export const DEBIAN_CHROMIUM = '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--enable-unsafe-webgpu',
  '--enable-unsafe-swiftshader',
  '--use-webgpu-adapter=swiftshader',
];
