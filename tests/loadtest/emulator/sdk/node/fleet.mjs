// Every node-onfleet method of Admins, Administrators, Containers, Hubs, Organization,
// Teams and Workers against the emulator.  Prints one JSON object (the answers the test
// checks) on the last line.  Usage: node fleet.mjs BASE_URL API_KEY
import Onfleet from '@onfleet/node-onfleet';

const [baseUrl, key] = process.argv.slice(2);
const onfleet = new Onfleet(key, 10000, null, baseUrl);
const out = {};
let n = 0;
const phone = () => `+1415666${String(1000 + n++).padStart(4, '0')}`;

// The emulator-only driver app: a worker goes on duty at [lon, lat].
async function onDuty(workerId, location) {
  const auth = Buffer.from(`${key}:`).toString('base64');
  const res = await fetch(`${baseUrl}/emulator/v1/workers/${workerId}/duty`, {
    method: 'POST',
    headers: { Authorization: `Basic ${auth}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ onDuty: true, location }),
  });
  if (!res.ok) throw new Error(`duty: ${res.status} ${await res.text()}`);
}
// node-onfleet 1.4 throws its errors with `new HttpError(...)` on arrow-function
// factories, so every API error reaches the caller as a TypeError ("... is not a
// constructor") instead of an HttpError carrying the subcode; both are reported.
const refused = (e) =>
  e.name === 'TypeError' && /not a constructor/.test(e.message) ? 'sdk-TypeError' : e.status;
const task = async (lon, lat, extra = {}) =>
  onfleet.tasks.create({ destination: { location: [lon, lat] }, ...extra });

// Organization
const org = await onfleet.organization.get();
out.org = { id: org.id, name: org.name, byId: (await onfleet.organization.get(org.id)).id };

// Admins (and the Administrators alias)
const meta = [{ name: 'desk', type: 'string', value: 'node' }];
const admin = await onfleet.admins.create({ name: 'Nia', email: 'nia@example.com', metadata: meta });
out.admin = {
  created: admin.email,
  listed: (await onfleet.admins.get()).some((a) => a.id === admin.id),
  updated: (await onfleet.administrators.update(admin.id, { name: 'Nia B' })).name,
  matched: (await onfleet.administrators.matchMetadata(meta)).map((a) => a.id),
  id: admin.id,
};
try {
  await onfleet.admins.create({ name: 'Dup', email: 'nia@example.com' });
  out.admin.duplicate = 'accepted';
} catch (e) {
  out.admin.duplicate = refused(e);
}
out.admin.deleted = await onfleet.admins.deleteOne(admin.id);
out.admin.afterDelete = (await onfleet.administrators.get()).some((a) => a.id === admin.id);

// Teams and workers
const team = await onfleet.teams.create({ name: 'Node North' });
const spareTeam = await onfleet.teams.create({ name: 'Node Spare' });
const p1 = phone();
const w1 = await onfleet.workers.create({ name: 'Ola', phone: p1, teams: [team.id] });
const w2 = await onfleet.workers.create({ name: 'Per', phone: phone(), teams: [team.id] });
const spare = await onfleet.workers.create({ name: 'Spare', phone: phone(), teams: [team.id] });
await onDuty(w1.id, [-122.41, 37.77]);
await onDuty(w2.id, [-122.3, 37.7]);
out.teams = {
  listed: (await onfleet.teams.get()).some((t) => t.id === team.id),
  one: (await onfleet.teams.get(team.id)).name,
  updated: (await onfleet.teams.update(team.id, { name: 'Node North-East' })).name,
};
const a = await task(-122.41, 37.771, { pickupTask: true });
const b = await task(-122.301, 37.7);
out.teams.inserted = (await onfleet.teams.insertTask(team.id, { tasks: [0, a.id, b.id] })).tasks;
out.teams.tasks = (await onfleet.teams.getTasks(team.id)).tasks.map((t) => t.id);
const eta = await onfleet.teams.getWorkerEta(team.id, { dropoffLocation: '-122.405,37.775' });
out.teams.etaWorker = eta.workerId;
out.teams.etaSteps = eta.steps.length;
const dispatched = await onfleet.teams.autoDispatch(team.id);
out.teams.dispatchId = dispatched.dispatchId;
out.teams.assigned = dispatched.assignedTasks;
out.teams.deleted = await onfleet.teams.deleteOne(spareTeam.id);

out.workers = {
  w1: w1.id,
  w2: w2.id,
  a: a.id,
  b: b.id,
  listed: (await onfleet.workers.get()).map((w) => w.id),
  one: (await onfleet.workers.get(w1.id)).name,
  filtered: await onfleet.workers.get({ phones: p1, filter: 'id,phone' }),
  oneFiltered: await onfleet.workers.get(w1.id, { filter: 'name' }),
  states: (await onfleet.workers.get({ states: '1' })).map((w) => w.id),
};
const wmeta = [{ name: 'badge', type: 'number', value: 9 }];
const updated = await onfleet.workers.update(w2.id, { name: 'Per Updated', capacity: 4, metadata: wmeta });
out.workers.updated = [updated.name, updated.capacity];
out.workers.matched = (await onfleet.workers.matchMetadata(wmeta)).map((w) => w.id);
out.workers.near = (
  await onfleet.workers.getByLocation({ longitude: -122.41, latitude: 37.7705, radius: 200 })
).workers.map((w) => w.id);
const c = await task(-122.42, 37.78);
out.workers.inserted = (await onfleet.workers.insertTask(w1.id, { tasks: [-1, c.id] })).tasks;
out.workers.tasks = (await onfleet.workers.getTasks(w1.id)).tasks.map((t) => t.id);
out.workers.pickups = (await onfleet.workers.getTasks(w1.id, { isPickupTask: 'true' })).tasks.map((t) => t.id);
const day = { date: '2031-06-01', timezone: 'Europe/Paris', shifts: [[Date.now() + 1e9, Date.now() + 1e9 + 3.6e6]] };
out.workers.scheduleSet = await onfleet.workers.setSchedule(w1.id, { entries: [day] });
out.workers.scheduleGot = await onfleet.workers.getSchedule(w1.id);
out.workers.scheduleSent = { entries: [day] };
try {
  await onfleet.workers.update(w1.id, { phone: '12' });
  out.workers.badPhone = 'accepted';
} catch (e) {
  out.workers.badPhone = refused(e);
}

// Hubs and the delivery manifest
const hub = await onfleet.hubs.create({
  name: 'Node Depot',
  address: { unparsed: '1 Market St, San Francisco' },
  teams: [team.id],
});
out.hubs = {
  created: hub.teams,
  listed: (await onfleet.hubs.get()).some((h) => h.id === hub.id),
  updated: (await onfleet.hubs.update(hub.id, { name: 'Node Depot 2' })).name,
  teamHub: (await onfleet.teams.get(team.id)).hub,
  id: hub.id,
};
const manifest = await onfleet.workers.getDeliveryManifest({ hubId: hub.id, workerId: w1.id });
out.manifest = { tasks: manifest.tasks.map((t) => t.id), driver: manifest.driver.name };

// Containers
const d = await task(-122.43, 37.79);
out.containers = {
  orgInserted: (await onfleet.organization.insertTask(org.id, { tasks: [0, d.id] })).tasks[0],
  worker: (await onfleet.containers.get(w1.id, 'workers')).tasks,
  team: (await onfleet.containers.get(team.id, 'teams')).type,
  org: (await onfleet.containers.get(org.id, 'organizations')).tasks[0],
  d: d.id,
};
out.workers.deleted = await onfleet.workers.deleteOne(spare.id);
out.workers.afterDelete = (await onfleet.workers.get()).some((w) => w.id === spare.id);
console.log(JSON.stringify(out));
