// Every node-onfleet method of Tasks, Recipients, Destinations, Routeplan, CustomFields and
// Webhooks against the emulator.  Usage: node tasks.mjs BASE_URL API_KEY HOOK_URL PHONE_SUFFIX
// Prints one JSON object (on the last line) of what each call returned, for the test to check.
import Onfleet from '@onfleet/node-onfleet';

const [baseUrl, key, hookUrl, suffix] = process.argv.slice(2);
const onfleet = new Onfleet(key, 10000, null, baseUrl);
const out = {};
const dest = { location: [-122.41, 37.77] };
const meta = [{ name: 'order', type: 'string', value: `node-${suffix}` }];
const driver = async (path, body) => {
  const res = await fetch(`${baseUrl}/emulator/v1${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` },
    body: JSON.stringify(body ?? {}),
  });
  if (!res.ok) throw new Error(`driver ${path}: ${res.status} ${await res.text()}`);
};
const threw = async (fn) => {
  try {
    await fn();
    return false;
  } catch (e) {
    return true;
  }
};

// -- Tasks ----------------------------------------------------------------------------------
const t = await onfleet.tasks.create({ destination: dest, metadata: meta, notes: 'n' });
out.created = t;
out.getById = (await onfleet.tasks.get(t.id)).id;
out.getByShortId = (await onfleet.tasks.get(t.shortId, 'shortId')).id;
out.listed = (await onfleet.tasks.get({ from: 0 })).tasks.map((x) => x.id);
out.updatedNotes = (await onfleet.tasks.update(t.id, { notes: 'changed' })).notes;
const clone = await onfleet.tasks.clone(t.id);
out.clone = { id: clone.id, sourceTaskId: clone.sourceTaskId, state: clone.state };
const clone2 = await onfleet.tasks.clone(t.id, { options: { includeMetadata: true } });
out.clone2Metadata = clone2.metadata;
out.matched = (await onfleet.tasks.matchMetadata(meta)).map((x) => x.id);
out.batch = (await onfleet.tasks.batchCreate({ tasks: [{ destination: dest }, { destination: dest }] })).tasks.length;
const job = await onfleet.tasks.batchCreateAsync({ tasks: [{ destination: dest }] });
let status = {};
for (let i = 0; i < 50; i += 1) {
  status = await onfleet.tasks.getBatch(job.jobId);
  if (status.tasksCreated + status.tasksErrored === 1) break;
}
out.asyncCreated = status.tasksCreated;
const team = await onfleet.teams.create({ name: `node-team-${suffix}` });
const worker = await onfleet.workers.create({ name: 'Node', phone: `+1415555${suffix}0`, teams: [team.id] });
await driver(`/workers/${worker.id}/duty`, { onDuty: true, location: [-122.41, 37.77] });
out.workerId = worker.id;
out.autoAssign = await onfleet.tasks.autoAssign({ tasks: [clone.id], options: { mode: 'distance' } });
out.autoAssignAgainThrew = await threw(() => onfleet.tasks.autoAssign({ tasks: [clone.id], options: { mode: 'distance' } }));
await driver(`/tasks/${clone.id}/start`);
out.forceComplete = await onfleet.tasks.forceComplete(clone.id, { completionDetails: { success: true } });
out.completedState = (await onfleet.tasks.get(clone.id)).state;
out.deleted = await onfleet.tasks.deleteOne(t.id);
out.getDeletedThrew = await threw(() => onfleet.tasks.get(t.id));

// -- Recipients and Destinations -------------------------------------------------------------
const phone = `+1415555${suffix}1`;
const r = await onfleet.recipients.create({ name: `Node Ann ${suffix}`, phone, metadata: meta });
out.recipient = r;
out.recipientById = (await onfleet.recipients.get(r.id)).id;
out.recipientByName = (await onfleet.recipients.get(`Node Ann ${suffix}`, 'name')).id;
out.recipientByPhone = (await onfleet.recipients.get(phone, 'phone')).id;
out.recipientUpdated = (await onfleet.recipients.update(r.id, { notes: 'gate 4' })).notes;
out.recipientsMatched = (await onfleet.recipients.matchMetadata(meta)).map((x) => x.id);
out.duplicatePhoneThrew = await threw(() => onfleet.recipients.create({ name: 'Dup', phone }));
const d = await onfleet.destinations.create({ address: { unparsed: '1 Market St, San Francisco' }, metadata: meta });
out.destination = d;
out.destinationById = (await onfleet.destinations.get(d.id)).id;
out.destinationsMatched = (await onfleet.destinations.matchMetadata(meta)).map((x) => x.id);
const byIds = await onfleet.tasks.create({ destination: d.id, recipients: [r.id] });
out.taskByIds = { destination: byIds.destination.id, recipient: byIds.recipients[0].id, notes: byIds.recipients[0].notes };

// -- Routeplan --------------------------------------------------------------------------------
const a = await onfleet.tasks.create({ destination: dest });
const b = await onfleet.tasks.create({ destination: dest });
const plan = await onfleet.routeplan.create({ name: 'Node route', startTime: 1900000000000, tasks: [a.id], worker: worker.id });
out.plan = { id: plan.id, state: plan.state, tasks: plan.tasks };
out.planById = (await onfleet.routeplan.get(plan.id)).id;
out.plansListed = (await onfleet.routeplan.get()).map((p) => p.id);
out.plansOfWorker = (await onfleet.routeplan.get({ workerId: worker.id })).map((p) => p.id);
out.planColor = (await onfleet.routeplan.update(plan.id, { color: '#123456' })).color;
const added = await onfleet.routeplan.addTasksToRoutePlan(plan.id, { tasks: [b.id] });
out.planTasks = added.tasks;
out.planTaskIds = [a.id, b.id];
out.planDeleted = await onfleet.routeplan.deleteOne(plan.id);
out.plansAfterDelete = (await onfleet.routeplan.get()).map((p) => p.id);

// -- CustomFields -----------------------------------------------------------------------------
const fieldKey = `gate${suffix}`;
out.fieldCreated = await onfleet.customfields.create({ model: 'Task', field: { key: fieldKey, name: 'Gate', type: 'single_line_text_field' } });
out.fieldsListed = (await onfleet.customfields.get('Task')).fields.map((f) => f.key);
out.fieldUpdated = await onfleet.customfields.update({ model: 'Task', field: { key: fieldKey, description: 'at the door' } });
out.fieldDeleted = await onfleet.customfields.delete({ model: 'Task', field: { key: fieldKey } });
out.fieldsAfterDelete = (await onfleet.customfields.get('Task')).fields.map((f) => f.key);

// -- Webhooks ---------------------------------------------------------------------------------
const hook = await onfleet.webhooks.create({ url: hookUrl, name: 'node', trigger: 6 });
out.hook = hook;
out.hooksListed = (await onfleet.webhooks.get()).map((h) => h.id);
out.hookDeleted = await onfleet.webhooks.deleteOne(hook.id);
out.hooksAfterDelete = (await onfleet.webhooks.get()).map((h) => h.id);

console.log(JSON.stringify(out));
