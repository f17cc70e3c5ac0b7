// How call events read on the monitor. The sentence ("Ana whispered: offer the winter tyre
// check", "Looked up 1HGCM82633A004352: …") comes with the live message from the server
// (CallEvent.describe in callcenter/models.py, its one home, shared with the history page).

export function describeEvent(event) {
  return { text: event.text || event.type, important: Boolean(event.important) };
}
