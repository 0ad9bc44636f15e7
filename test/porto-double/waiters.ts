/**
 * Sync `wait` and `AsyncWait` registrations (src/waiter.cpp). A waiter names
 * containers and/or wildcards, optional label patterns and, for async ones, an
 * optional target_state. Every state change and label change goes through
 * `reportAll`, which decides per waiter whether to answer.
 */
import type { Container } from "./container.js";
import { stringMatch } from "./text.js";

export interface Report {
  name: string;
  state: string;
  /** Epoch seconds. */
  when: number;
  label?: string;
  value?: string;
}

/** What a waiter needs from its connection. */
export interface WaitClient {
  /** Sends a response carrying only the AsyncWait field. */
  pushAsync(report: Report): void;
  /** Answers the pending sync `wait` request with this report. */
  answerWait(report: Report): void;
  asyncWaiter: Waiter | undefined;
  syncWaiter: Waiter | undefined;
  closed: boolean;
}

export class Waiter {
  names: string[] = [];
  wildcards: string[] = [];
  labels: string[] = [];
  targetState = "";
  active = false;
  timer: NodeJS.Timeout | undefined;

  constructor(
    readonly async: boolean,
    readonly client: WaitClient,
  ) {}

  /** TContainerWaiter::ShouldReport. */
  shouldReport(ct: Container): boolean {
    if (!this.async) {
      const hollowMeta = ct.state === "meta" && ct.runningChildren === 0;
      if (ct.state !== "stopped" && ct.state !== "dead" && ct.state !== "respawning" && !hollowMeta) return false;
    }
    if (this.async && this.targetState !== "" && this.targetState !== ct.state) return false;
    if (this.names.includes(ct.name)) return true;
    return this.wildcards.some((wc) => stringMatch(ct.name, wc) && ct.level > 0);
  }

  shouldReportLabel(label: string): boolean {
    return this.labels.some((wc) => stringMatch(label, wc));
  }

  equals(o: Waiter): boolean {
    const same = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
    return (
      this.async === o.async &&
      this.targetState === o.targetState &&
      same(this.names, o.names) &&
      same(this.wildcards, o.wildcards) &&
      same(this.labels, o.labels)
    );
  }
}

export class WaiterRegistry {
  private readonly waiters: Waiter[] = [];

  /** TContainerWaiter::Activate: one sync and one async waiter per connection; a new one replaces the old. */
  activate(w: Waiter): void {
    const c = w.client;
    const old = w.async ? c.asyncWaiter : c.syncWaiter;
    if (old) this.deactivate(old);
    if (w.names.length || w.wildcards.length) {
      if (w.async) c.asyncWaiter = w;
      else c.syncWaiter = w;
      w.active = true;
      this.waiters.push(w);
    } else if (w.async) c.asyncWaiter = undefined;
    else c.syncWaiter = undefined;
  }

  deactivate(w: Waiter): void {
    w.active = false;
    if (w.timer) clearTimeout(w.timer);
    w.timer = undefined;
    const i = this.waiters.indexOf(w);
    if (i >= 0) this.waiters.splice(i, 1);
    const c = w.client;
    if (w.async && c.asyncWaiter === w) c.asyncWaiter = undefined;
    if (!w.async && c.syncWaiter === w) c.syncWaiter = undefined;
  }

  /** TContainerWaiter::Timeout: answers `{name: "", state: "timeout"}`. */
  timeout(w: Waiter): void {
    if (!w.active) return;
    this.deactivate(w);
    const r = { name: "", state: "timeout", when: now() };
    if (w.async) w.client.pushAsync(r);
    else w.client.answerWait(r);
  }

  /** TContainerWaiter::Remove (StopAsyncWait): finds an equal waiter of this client. */
  remove(w: Waiter): boolean {
    const found = this.waiters.find((o) => o.client === w.client && o.equals(w));
    if (!found) return false;
    this.deactivate(found);
    return true;
  }

  /** Drops every waiter of a closed connection. */
  dropClient(c: WaitClient): void {
    for (const w of [...this.waiters]) if (w.client === c) this.deactivate(w);
  }

  /**
   * TContainerWaiter::ReportAll: state changes (empty label) and lower-case
   * pseudo labels (exit_code, start_error) reach every matching waiter;
   * real labels reach only waiters whose label patterns match.
   */
  reportAll(ct: Container, label = "", value = ""): void {
    for (const w of [...this.waiters]) {
      if (!w.active || w.client.closed) continue;
      const labelOk = label === "" || (label[0] >= "a" && label[0] <= "z") || w.shouldReportLabel(label);
      if (!w.shouldReport(ct) || !labelOk) continue;
      const r: Report = { name: ct.name, state: ct.state, when: now() };
      if (label !== "") {
        r.label = label;
        if (value !== "") r.value = value;
      }
      if (!w.async || w.targetState !== "") this.deactivate(w);
      if (w.async) w.client.pushAsync(r);
      else w.client.answerWait(r);
    }
  }
}

export function now(): number {
  return Math.floor(Date.now() / 1000);
}
