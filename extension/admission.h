/*-------------------------------------------------------------------------
 *
 * admission.h
 *		Admission at login (the ClientAuthentication hook).
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_ADMISSION_H
#define GOV_ADMISSION_H

extern void gov_admission_init(void);

#endif							/* GOV_ADMISSION_H */
