/** The start of the notice tfjs-backend-cpu prints on its first tensor in Node (suggesting tfjs-node). */
const BANNER = 'Hi, looks like you are running TensorFlow.js in Node.js';

/**
 * Drops tfjs's Node banner from `console.warn` (where tfjs prints it) and passes every other warning
 * through; returns the function that restores the previous `console.warn`.
 */
export function muteTfjsNodeBanner(): () => void {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].includes(BANNER)) return;
    warn.apply(console, args);
  };
  return () => {
    console.warn = warn;
  };
}
