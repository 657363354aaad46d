/**
 * @layer logic
 * The look of CloudStack 4.2x's UI (Ant Design 2/3): its font stack, 14 px text, table and form
 * density, 2 px radii, #1890ff as the primary colour, light and dark after
 * `prefers-color-scheme`. Text and filled buttons use Ant's darker primary-7 (#096dd9) where
 * #1890ff would be below WCAG AA contrast on white; #1890ff stays for borders, focus and accents.
 */
import { css } from 'lit';

export const theme = css`
  :host {
    --sd-primary: #1890ff;
    --sd-primary-strong: #096dd9;
    --sd-primary-bg: #e6f7ff;
    --sd-link: #0958b3;
    --sd-bg: #ffffff;
    --sd-bg-page: #f0f2f5;
    --sd-bg-head: #fafafa;
    --sd-text: rgba(0, 0, 0, 0.85);
    --sd-text-2: #595959;
    --sd-border: #f0f0f0;
    --sd-border-2: #d9d9d9;
    --sd-error: #cf1322;
    --sd-error-bg: #fff2f0;
    --sd-success: #237804;
    --sd-success-bg: #f6ffed;
    --sd-warning: #874d00;
    --sd-warning-bg: #fffbe6;
    --sd-shadow: 0 2px 8px rgba(0, 0, 0, 0.15);
    font-family: -apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'Noto Sans', sans-serif,
      'Apple Color Emoji', 'Segoe UI Emoji', 'Segoe UI Symbol', 'Noto Color Emoji';
    font-size: 14px;
    line-height: 1.5715;
    color: var(--sd-text);
    box-sizing: border-box;
  }
  @media (prefers-color-scheme: dark) {
    :host {
      --sd-primary: #177ddc;
      --sd-primary-strong: #1765ad;
      --sd-primary-bg: #111b26;
      --sd-link: #40a9ff;
      --sd-bg: #141414;
      --sd-bg-page: #000000;
      --sd-bg-head: #1d1d1d;
      --sd-text: rgba(255, 255, 255, 0.85);
      --sd-text-2: #a6a6a6;
      --sd-border: #303030;
      --sd-border-2: #434343;
      --sd-error: #ff7875;
      --sd-error-bg: #2a1215;
      --sd-success: #73d13d;
      --sd-success-bg: #162312;
      --sd-warning: #ffc53d;
      --sd-warning-bg: #2b2111;
      --sd-shadow: 0 2px 8px rgba(0, 0, 0, 0.45);
    }
  }
  *, *::before, *::after { box-sizing: inherit; }
  h1, h2, h3 { color: var(--sd-text); font-weight: 500; margin: 0 0 12px; }
  h1 { font-size: 20px; } h2 { font-size: 16px; } h3 { font-size: 14px; }
  a { color: var(--sd-link); text-decoration: none; }
  a:hover { text-decoration: underline; }
  :focus-visible { outline: 2px solid var(--sd-primary); outline-offset: 1px; }
  .muted { color: var(--sd-text-2); }
  .card { background: var(--sd-bg); border: 1px solid var(--sd-border); border-radius: 2px; padding: 16px 24px; margin-bottom: 16px; }
  .row { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
  .spacer { flex: 1; }
  .nowrap { white-space: nowrap; }
  .actions { display: flex; gap: 8px; flex-wrap: nowrap; }
  button, .button {
    font: inherit; height: 32px; padding: 4px 15px; border-radius: 2px; border: 1px solid var(--sd-border-2);
    background: var(--sd-bg); color: var(--sd-text); cursor: pointer; white-space: nowrap; display: inline-flex; align-items: center; gap: 6px;
  }
  button:hover:not(:disabled), .button:hover { border-color: var(--sd-primary); color: var(--sd-link); text-decoration: none; }
  button.primary { background: var(--sd-primary-strong); border-color: var(--sd-primary-strong); color: #fff; }
  button.primary:hover:not(:disabled) { background: var(--sd-primary); border-color: var(--sd-primary); color: #fff; }
  button.danger { color: var(--sd-error); border-color: var(--sd-error); }
  button.danger.primary { background: var(--sd-error); color: #fff; }
  button.small, .button.small { height: 24px; padding: 0 7px; }
  button:disabled { opacity: 0.6; cursor: not-allowed; }
  label { display: block; margin-bottom: 4px; }
  .field { margin-bottom: 16px; }
  .field .hint { font-size: 12px; color: var(--sd-text-2); }
  .field .invalid { font-size: 12px; color: var(--sd-error); }
  input[type='text'], input[type='password'], input[type='number'], input[type='search'], select, textarea {
    font: inherit; color: var(--sd-text); background: var(--sd-bg); border: 1px solid var(--sd-border-2); border-radius: 2px;
    height: 32px; padding: 4px 11px; width: 100%; max-width: 360px;
  }
  input:focus, select:focus, textarea:focus { border-color: var(--sd-primary); outline: none; box-shadow: 0 0 0 2px rgba(24, 144, 255, 0.2); }
  input[aria-invalid='true'] { border-color: var(--sd-error); }
  input[type='checkbox'], input[type='radio'] { margin-right: 6px; }
  table { border-collapse: collapse; width: 100%; background: var(--sd-bg); }
  th, td { text-align: left; padding: 8px; border-bottom: 1px solid var(--sd-border); vertical-align: top; }
  th { background: var(--sd-bg-head); font-weight: 500; white-space: nowrap; }
  tr:hover td { background: var(--sd-primary-bg); }
  .table-wrap { overflow-x: auto; }
  .tag { display: inline-block; padding: 0 7px; font-size: 12px; line-height: 20px; border-radius: 2px; border: 1px solid var(--sd-border-2); background: var(--sd-bg-head); white-space: nowrap; }
  .tag.ok { color: var(--sd-success); background: var(--sd-success-bg); border-color: currentColor; }
  .tag.bad { color: var(--sd-error); background: var(--sd-error-bg); border-color: currentColor; }
  .tag.warn { color: var(--sd-warning); background: var(--sd-warning-bg); border-color: currentColor; }
  .tag.info { color: var(--sd-link); background: var(--sd-primary-bg); border-color: currentColor; }
  .alert { padding: 8px 15px; border-radius: 2px; border: 1px solid; margin-bottom: 16px; }
  .alert.error { background: var(--sd-error-bg); border-color: var(--sd-error); color: var(--sd-text); }
  .alert.success { background: var(--sd-success-bg); border-color: var(--sd-success); }
  .alert.warning { background: var(--sd-warning-bg); border-color: var(--sd-warning); }
  .alert.info { background: var(--sd-primary-bg); border-color: var(--sd-primary); }
  progress { width: 100%; height: 8px; accent-color: var(--sd-primary); }
  dialog { border: none; border-radius: 2px; padding: 0; box-shadow: var(--sd-shadow); background: var(--sd-bg); color: var(--sd-text); width: min(560px, 95vw); max-height: 85vh; }
  dialog::backdrop { background: rgba(0, 0, 0, 0.45); }
  dialog header { padding: 16px 24px; border-bottom: 1px solid var(--sd-border); font-weight: 500; font-size: 16px; }
  dialog .body { padding: 24px; overflow: auto; max-height: calc(85vh - 130px); }
  dialog footer { padding: 10px 16px; border-top: 1px solid var(--sd-border); display: flex; justify-content: flex-end; gap: 8px; }
  fieldset { border: none; padding: 0; margin: 0 0 16px; }
  legend { padding: 0; margin-bottom: 4px; }
`;
