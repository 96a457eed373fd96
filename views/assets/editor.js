// Rich text for the template editor's text blocks (Tiptap on ProseMirror).
// Loaded by admin.js only on pages with a [data-richtext] field. Each
// field's <textarea> stays in the form, hidden, and receives the editor's
// HTML on every change, so the form posts exactly what it did without
// JavaScript and the server's sanitiser stays the guard.
import { Editor } from '@tiptap/core';
import Document from '@tiptap/extension-document';
import Paragraph from '@tiptap/extension-paragraph';
import Text from '@tiptap/extension-text';
import Bold from '@tiptap/extension-bold';
import Italic from '@tiptap/extension-italic';
import Underline from '@tiptap/extension-underline';
import HardBreak from '@tiptap/extension-hard-break';
import Link from '@tiptap/extension-link';
import { BulletList, OrderedList, ListItem } from '@tiptap/extension-list';
import { UndoRedo } from '@tiptap/extensions';

// A link may be a URL merge tag ({{ shop_url }}); the server checks it too.
const tagURL = /^\{\{\s*[a-z_]+\s*\}\}$/;

const extensions = () => [
  Document,
  Paragraph,
  Text,
  Bold,
  Italic,
  Underline,
  HardBreak,
  BulletList,
  OrderedList,
  ListItem,
  UndoRedo,
  Link.configure({
    openOnClick: false,
    autolink: true,
    HTMLAttributes: { rel: null, target: null, class: null },
    isAllowedUri: (url, ctx) => tagURL.test(url) || ctx.defaultValidate(url),
  }),
];

const buttons = [
  { key: 'bold', label: 'Bold', text: 'B', style: 'font-weight:700', run: (e) => e.chain().focus().toggleBold().run() },
  { key: 'italic', label: 'Italic', text: 'I', style: 'font-style:italic', run: (e) => e.chain().focus().toggleItalic().run() },
  { key: 'underline', label: 'Underline', text: 'U', style: 'text-decoration:underline', run: (e) => e.chain().focus().toggleUnderline().run() },
  { key: 'link', label: 'Link', text: 'Link', run: editLink },
  { key: 'bulletList', label: 'Bulleted list', text: '• List', run: (e) => e.chain().focus().toggleBulletList().run() },
  { key: 'orderedList', label: 'Numbered list', text: '1. List', run: (e) => e.chain().focus().toggleOrderedList().run() },
];

function editLink(editor) {
  const current = editor.getAttributes('link').href || '';
  const href = window.prompt('Link address (https://… or {{ shop_url }}); empty removes the link', current);
  if (href === null) return;
  const chain = editor.chain().focus().extendMarkRange('link');
  if (href.trim() === '') chain.unsetLink().run();
  else chain.setLink({ href: href.trim() }).run();
}

let seq = 0;

function mount(area, tags) {
  if (area.dataset.rtMounted) return;
  area.dataset.rtMounted = '1';
  const n = ++seq;
  const field = area.closest('.Polaris-Connected') || area;
  const label = area.id ? document.querySelector(`label[for="${CSS.escape(area.id)}"]`) : null;
  if (label && !label.id) label.id = `rt-label-${n}`;

  const box = document.createElement('div');
  box.className = 'cw-RichText';
  box.dataset.richtextEditor = '';
  const bar = document.createElement('div');
  bar.className = 'cw-RichText__toolbar';
  bar.setAttribute('role', 'toolbar');
  bar.setAttribute('aria-label', (label?.textContent.trim() || 'Text') + ' formatting');
  const content = document.createElement('div');
  content.className = 'cw-RichText__content';
  box.append(bar, content);
  field.after(box);
  field.style.display = 'none'; // Polaris' display:flex would beat [hidden]

  const attrs = { role: 'textbox', 'aria-multiline': 'true', spellcheck: 'true' };
  if (label) attrs['aria-labelledby'] = label.id;
  if (area.getAttribute('aria-describedby')) attrs['aria-describedby'] = area.getAttribute('aria-describedby');
  if (area.getAttribute('aria-invalid') === 'true') attrs['aria-invalid'] = 'true';

  const editor = new Editor({
    element: content,
    extensions: extensions(),
    content: area.value,
    editorProps: { attributes: attrs },
    onUpdate: ({ editor: e }) => {
      area.value = e.isEmpty ? '' : e.getHTML();
      area.dispatchEvent(new Event('input', { bubbles: true }));
    },
  });

  const pressed = [];
  for (const b of buttons) {
    const btn = document.createElement('button');
    btn.type = 'button';
    btn.textContent = b.text;
    if (b.style) btn.style.cssText = b.style;
    btn.setAttribute('aria-label', b.label);
    btn.title = b.label;
    btn.dataset.rtAction = b.key;
    btn.setAttribute('aria-pressed', 'false');
    btn.addEventListener('mousedown', (ev) => ev.preventDefault()); // keep the selection
    btn.addEventListener('click', () => b.run(editor));
    bar.append(btn);
    pressed.push([btn, b.key]);
  }
  const sync = () => pressed.forEach(([btn, key]) => btn.setAttribute('aria-pressed', String(editor.isActive(key))));
  editor.on('transaction', sync);

  if (tags.length) {
    const sel = document.createElement('select');
    sel.id = `rt-tags-${n}`;
    sel.className = 'cw-NativeSelect';
    sel.dataset.rtTags = '';
    const selLabel = document.createElement('label');
    selLabel.htmlFor = sel.id;
    selLabel.className = 'Polaris-Text--root Polaris-Text--visuallyHidden';
    selLabel.textContent = 'Insert a merge tag';
    const first = new Option('Insert merge tag…', '');
    sel.append(first);
    for (const t of tags) sel.append(new Option(t.label, t.tag));
    sel.addEventListener('change', (ev) => {
      ev.stopPropagation();
      const tag = sel.value;
      sel.value = '';
      if (!tag) return;
      const text = tag === 'first_name' ? '{{ first_name | default: "there" }}' : `{{ ${tag} }}`;
      editor.chain().focus().insertContent(text).run();
    });
    sel.addEventListener('input', (ev) => ev.stopPropagation());
    bar.append(selLabel, sel);
  }

  label?.addEventListener('click', (ev) => {
    ev.preventDefault();
    editor.commands.focus();
  });
  area.cwEditor = editor;
}

function mountAll(root = document) {
  const form = root.closest?.('[data-merge-tags]') || root.querySelector?.('[data-merge-tags]') || document.querySelector('[data-merge-tags]');
  let tags = [];
  try {
    tags = JSON.parse(form?.dataset.mergeTags || '[]');
  } catch {
    tags = [];
  }
  (root.querySelectorAll ? root : document).querySelectorAll('[data-richtext] textarea').forEach((area) => mount(area, tags));
}

window.cartwheelEditor = { mountAll };
