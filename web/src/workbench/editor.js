// The code editor: CodeMirror 6 in Python mode, with Ctrl/Cmd-Enter to run,
// Ctrl/Cmd-S to save, and the failing line of a traceback marked.

import { basicSetup } from 'codemirror';
import { python } from '@codemirror/lang-python';
import { indentUnit } from '@codemirror/language';
import { indentWithTab } from '@codemirror/commands';
import { EditorState, Prec, RangeSet, StateEffect, StateField } from '@codemirror/state';
import { Decoration, EditorView, GutterMarker, gutter, keymap } from '@codemirror/view';

// setErrorLine marks a line (1-based) with a message, or clears the mark (null).
const setErrorLine = StateEffect.define();

class ErrorMarker extends GutterMarker {
  constructor(message) {
    super();
    this.message = message;
  }

  eq(other) { return other.message === this.message; }

  toDOM() {
    const el = document.createElement('span');
    el.className = 'cm-error-marker';
    el.textContent = '●';
    el.title = this.message;
    return el;
  }
}

// The marked line as {decorations, markers, line}; edits move it with the
// text, and an edit of the line itself clears it.
const errorField = StateField.define({
  create: () => ({ decorations: Decoration.none, markers: RangeSet.empty, line: 0 }),
  update(value, tr) {
    let next = value;
    if (tr.docChanged && value.line) {
      let touched = false;
      const old = tr.startState.doc.line(value.line);
      tr.changes.iterChangedRanges((fromA, toA) => {
        if (fromA <= old.to && toA >= old.from) touched = true;
      });
      if (touched) next = { decorations: Decoration.none, markers: RangeSet.empty, line: 0 };
      else {
        const pos = tr.changes.mapPos(old.from);
        next = {
          decorations: value.decorations.map(tr.changes),
          markers: value.markers.map(tr.changes),
          line: tr.state.doc.lineAt(pos).number,
        };
      }
    }
    for (const e of tr.effects) {
      if (!e.is(setErrorLine)) continue;
      if (!e.value) {
        next = { decorations: Decoration.none, markers: RangeSet.empty, line: 0 };
        continue;
      }
      const n = Math.min(Math.max(1, e.value.line), tr.state.doc.lines);
      const line = tr.state.doc.line(n);
      next = {
        decorations: Decoration.set([
          Decoration.line({ class: 'cm-error-line', attributes: { title: e.value.message, 'data-error-line': String(n) } }).range(line.from),
        ]),
        markers: RangeSet.of([new ErrorMarker(e.value.message).range(line.from)]),
        line: n,
      };
    }
    return next;
  },
  provide: (f) => EditorView.decorations.from(f, (v) => v.decorations),
});

const errorGutter = gutter({
  class: 'cm-error-gutter',
  markers: (view) => view.state.field(errorField).markers,
});

const theme = EditorView.theme({
  '&': { height: '100%', fontSize: '13px' },
  '.cm-scroller': { fontFamily: 'var(--mono)', lineHeight: '1.5' },
  '.cm-error-line': { backgroundColor: 'rgba(220, 38, 38, 0.14)' },
  '.cm-error-gutter': { width: '14px' },
  '.cm-error-marker': { color: '#c81e1e', fontSize: '11px', paddingLeft: '2px', cursor: 'default' },
});

// createEditor makes the editor in parent. onChange is called after every
// edit of the text, onRun for Ctrl/Cmd-Enter, onSave for Ctrl/Cmd-S.
export function createEditor(parent, { doc, onChange, onRun, onSave }) {
  const keys = Prec.highest(keymap.of([
    { key: 'Mod-Enter', run: () => { onRun(); return true; } },
    { key: 'Shift-Enter', run: () => { onRun(); return true; } },
    { key: 'Mod-s', run: () => { onSave(); return true; }, preventDefault: true },
  ]));
  const state = EditorState.create({
    doc,
    extensions: [
      keys,
      basicSetup,
      keymap.of([indentWithTab]),
      python(),
      indentUnit.of('    '),
      EditorState.tabSize.of(4),
      errorField,
      errorGutter,
      theme,
      EditorView.contentAttributes.of({ 'aria-label': 'UDF code (Python)' }),
      EditorView.updateListener.of((u) => { if (u.docChanged) onChange(); }),
    ],
  });
  return new EditorView({ state, parent });
}

export function getCode(view) {
  return view.state.doc.toString();
}

// setCode replaces the whole text as one edit (undo brings the old text back).
export function setCode(view, text) {
  view.dispatch({
    changes: { from: 0, to: view.state.doc.length, insert: text },
    selection: { anchor: 0 },
    effects: setErrorLine.of(null),
    scrollIntoView: true,
  });
}

// markError marks line n (1-based) with message and scrolls to it.
export function markError(view, n, message) {
  if (!Number.isInteger(n) || n < 1) return;
  const line = view.state.doc.line(Math.min(n, view.state.doc.lines));
  view.dispatch({
    effects: [setErrorLine.of({ line: n, message }), EditorView.scrollIntoView(line.from, { y: 'center' })],
  });
}

export function clearError(view) {
  if (view.state.field(errorField).line) view.dispatch({ effects: setErrorLine.of(null) });
}

// errorLineNumber is the marked line, 0 when none is.
export function errorLineNumber(view) {
  return view.state.field(errorField).line;
}
