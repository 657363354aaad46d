import { journalContract } from './journal-contract.ts';
import { MemoryJournal } from './journal.ts';

journalContract('memory', async () => new MemoryJournal());
