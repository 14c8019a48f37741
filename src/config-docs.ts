/** The README's configuration table and .env.example, generated from the VARIABLES table. */
import { VARIABLE_NAMES, VARIABLES, type VariableDef } from './config.ts';

/** Markdown rows for the README configuration table (name, default, meaning). */
export function configTableMarkdown(): string {
  const rows = ['| Variable | Default | Meaning |', '|---|---|---|'];
  for (const name of VARIABLE_NAMES) {
    const def: VariableDef<unknown> = VARIABLES[name];
    const dflt = def.required ? '**required**' : def.default !== undefined ? `\`${def.default}\`` : (def.defaultDoc ?? 'unset');
    rows.push(`| \`${name}\` | ${dflt} | ${def.doc} |`);
  }
  return rows.join('\n');
}

/** The text of .env.example, generated from the schema. */
export function envExampleText(): string {
  const header = [
    '# Reverie configuration. Copy to .env (`cp .env.example .env`) and fill in DISCORD_TOKEN.',
    '# Real environment variables win over this file. Empty values count as unset.',
    '# The same table, with more words, is in README.md under "Configuration".',
  ];
  const out = [...header];
  let group = '';
  const titles: Record<string, string> = {
    discord: 'Discord',
    engine: 'Devices and threads',
    models: 'Models (npm run models:pull)',
    storage: 'Storage',
    limits: 'Limits and defaults for /imagine',
    operations: 'Operations',
  };
  for (const name of VARIABLE_NAMES) {
    const def: VariableDef<unknown> = VARIABLES[name];
    if (def.group !== group) {
      group = def.group;
      out.push('', `# --- ${titles[group]} ---`);
    }
    const dflt = def.required ? '' : def.default !== undefined ? ` Default: ${def.default}.` : def.defaultDoc ? ` Default: ${def.defaultDoc}.` : '';
    out.push(`# ${name}: ${def.doc.replace(/`/g, '')}${dflt}`);
    if (def.required || name === 'DISCORD_APP_ID' || name === 'DISCORD_GUILD_ID') out.push(`${name}=`);
    else out.push(`# ${name}=${def.default ?? def.example ?? ''}`);
  }
  return out.join('\n') + '\n';
}
