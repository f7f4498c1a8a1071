// The harness's own check: the SDK reaches the emulator and lists tasks and workers.
// Usage: node smoke.mjs BASE_URL API_KEY
import Onfleet from '@onfleet/node-onfleet';

const [baseUrl, key] = process.argv.slice(2);
const onfleet = new Onfleet(key, 10000, null, baseUrl);
const tasks = await onfleet.tasks.get({ from: 0 });
const workers = await onfleet.workers.get();
console.log(JSON.stringify({ tasks: tasks.tasks.length, workers: workers.length }));
