// Kernel requests for anywidget models built on jaxviz.widgets._base.JaxvizWidget.
//
// A control that needs the kernel sets its trait locally and calls commit(). At most one request
// is in flight: changes made meanwhile accumulate in the model's pending diff and go out together
// once the kernel answers, so the latest state always wins and a burst of slider moves costs at
// most two computations. The kernel answers every request through the `_reply` trait
// ({id, seq, error}).

export function createRequester(model, { onBusy = () => {}, onReply = () => {} } = {}) {
  let sent = model.get("_request_id") ?? 0;
  let answered = sent;
  let queued = false;

  function send() {
    sent += 1;
    model.set("_request_id", sent);
    model.save_changes();
  }

  function commit() {
    onBusy(true);
    if (sent > answered) queued = true;
    else send();
  }

  function handleReply() {
    const reply = model.get("_reply") ?? {};
    answered = Math.max(answered, reply.id ?? 0);
    if (answered < sent) return;
    if (queued) {
      queued = false;
      send();
      return;
    }
    onBusy(false);
    onReply(reply);
  }

  model.on("change:_reply", handleReply);
  return {
    commit,
    busy: () => sent > answered || queued,
    dispose: () => model.off("change:_reply", handleReply),
  };
}


/** Subscribes `callback` to changes of each trait; returns an unsubscribe function. */
export function onChange(model, names, callback) {
  for (const n of names) model.on(`change:${n}`, callback);
  return () => {
    for (const n of names) model.off(`change:${n}`, callback);
  };
}


/**
 * Tells the kernel that this view has been drawn (after the next frame): the widget then starts
 * warming, in the background, what its controls can reach. Pages without a kernel have no send.
 */
export function announceRendered(model) {
  const announce = () => model.send?.({ event: "rendered" });
  if (typeof requestAnimationFrame === "function") requestAnimationFrame(announce);
  else announce();
}
